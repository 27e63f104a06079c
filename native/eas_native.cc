// eas native engine: oneDNN (2.6, op-descriptor API) kernels for training, called from the tfjs wasm backend's
// kernels with Float32Array views into the wasm heap (no copies: the pointers go straight to oneDNN).
//
// Layouts are tfjs's: activations NHWC, conv filters HWIO. oneDNN's AVX-512 convolutions run on NHWC
// activations directly; filters are reordered to the blocked layout the primitive prefers (small, once per call).
// Primitives are cached by shape (a training run sees a handful of shapes).
#include <node_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

namespace {

engine &eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream &strm() {
  static stream s(eng());
  return s;
}

// Below this many elements a loop runs on one thread: an OpenMP fork/join costs more than it saves.
constexpr int64_t PAR_MIN = 1 << 15;

// The stride between threads' partial sums (elements of `bytes` each): at least one 64-byte cache line of padding
// between two threads' blocks, so that one thread's accumulating never invalidates the line the other is writing
// (false sharing: it made batch norm's moments slower on two threads than on one).
size_t part_stride(int64_t n, size_t bytes) {
  const size_t line = 64 / bytes;
  return (static_cast<size_t>(n) + 2 * line - 1) / line * line;
}

// Native allocations we own (reordered-weight buffers in cached primitives), for leak tests.
int64_t g_live_buffers = 0;
int64_t g_live_bytes = 0;

struct OwnedBuffer {
  std::vector<float> data;
  explicit OwnedBuffer(size_t bytes) : data((bytes + sizeof(float) - 1) / sizeof(float)) {
    g_live_buffers++;
    g_live_bytes += static_cast<int64_t>(bytes);
  }
  ~OwnedBuffer() {
    g_live_buffers--;
    g_live_bytes -= static_cast<int64_t>(data.size() * sizeof(float));
  }
  OwnedBuffer(const OwnedBuffer &) = delete;
  OwnedBuffer &operator=(const OwnedBuffer &) = delete;
};

// ---- N-API helpers ---------------------------------------------------------------------------------------

struct JsError {
  std::string msg;
};

#define NAPI_OK(call)                                   \
  do {                                                  \
    if ((call) != napi_ok) throw JsError{"N-API: " #call}; \
  } while (0)

float *f32arg(napi_env env, napi_value v, size_t min_len, const char *what) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) throw JsError{std::string(what) + ": expected a Float32Array"};
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset));
  if (type != napi_float32_array) throw JsError{std::string(what) + ": expected a Float32Array"};
  if (length < min_len) throw JsError{std::string(what) + ": Float32Array has " + std::to_string(length) + " elements, need " + std::to_string(min_len)};
  return static_cast<float *>(data);
}

std::vector<int64_t> intsarg(napi_env env, napi_value v, size_t n, const char *what) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) throw JsError{std::string(what) + ": expected an Int32Array"};
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset));
  if (type != napi_int32_array || length != n) throw JsError{std::string(what) + ": expected an Int32Array of " + std::to_string(n)};
  const int32_t *p = static_cast<const int32_t *>(data);
  return std::vector<int64_t>(p, p + n);
}

bool is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  NAPI_OK(napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

double numarg(napi_env env, napi_value v, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw JsError{std::string(what) + ": expected a number"};
  return d;
}

// Optional per-section profile of the native kernels, read with profile(): on when EAS_NATIVE_PROFILE is set. By the
// calling thread's CPU time (so other load on the machine does not inflate it), or by wall-clock time with
// EAS_NATIVE_PROFILE=wall (what shows where several threads do not shorten a section).
const bool g_profile = std::getenv("EAS_NATIVE_PROFILE") != nullptr;
const clockid_t g_prof_clock = g_profile && std::string(std::getenv("EAS_NATIVE_PROFILE")) == "wall" ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
const char *const PROF_NAMES[] = {"bn_relu_fwd", "moments", "conv1x1_fwd", "conv_fwd", "copy", "bn_relu_bwd", "conv_bwd_w", "conv_bwd_data", "conv1x1_bwd_w", "conv1x1_bwd_data", "all_native_calls",
                                   "pool_fwd", "pool_bwd", "fc_classifier_loss", "optimizer"};
constexpr int PROF_N = 15;
double g_prof[PROF_N] = {0};
double thread_cpu() {
  timespec ts;
  clock_gettime(g_prof_clock, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
struct Prof {
  int id;
  double t0;
  explicit Prof(int i) : id(i), t0(g_profile ? thread_cpu() : 0) {}
  ~Prof() {
    if (g_profile) g_prof[id] += thread_cpu() - t0;
  }
};
#define PROF(i) Prof prof_##__LINE__(i)

template <typename F>
napi_value guarded(napi_env env, napi_callback_info info, size_t nargs, F f) {
  PROF(10);
  try {
    std::vector<napi_value> args(nargs);
    size_t argc = nargs;
    NAPI_OK(napi_get_cb_info(env, info, &argc, args.data(), nullptr, nullptr));
    if (argc < nargs) throw JsError{"expected " + std::to_string(nargs) + " arguments, got " + std::to_string(argc)};
    return f(args);
  } catch (const JsError &e) {
    napi_throw_error(env, nullptr, e.msg.c_str());
  } catch (const dnnl::error &e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---- convolution ----------------------------------------------------------------------------------------

// Geometry from tfjs's computeConv2DInfo, in one Int32Array:
// n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight
constexpr size_t CONV_PARAMS = 17;
struct ConvGeom {
  int64_t n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  explicit ConvGeom(const std::vector<int64_t> &p)
      : n(p[0]), h(p[1]), w(p[2]), cin(p[3]), oh(p[4]), ow(p[5]), cout(p[6]), kh(p[7]), kw(p[8]), sh(p[9]), sw(p[10]), dh(p[11]), dw(p[12]),
        pt(p[13]), pl(p[14]), pb(p[15]), pr(p[16]) {
    if (n < 1 || h < 1 || w < 1 || cin < 1 || oh < 1 || ow < 1 || cout < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1)
      throw JsError{"conv geometry: every size, stride and dilation must be ≥ 1"};
  }
  std::string key() const {
    std::string k;
    for (int64_t v : {n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr}) k += std::to_string(v) + ",";
    return k;
  }
  memory::desc src() const { return memory::desc({n, cin, h, w}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({n, cout, oh, ow}, dt::f32, tag::nhwc); }
  memory::desc wei_user() const { return memory::desc({cout, cin, kh, kw}, dt::f32, tag::hwio); }
  memory::desc wei_any() const { return memory::desc({cout, cin, kh, kw}, dt::f32, tag::any); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dil() const { return {dh - 1, dw - 1}; }
  // oneDNN wants dst = (src + pl + pr - ext_k) / s + 1; tfjs's bottom/right padding can exceed what is used.
  memory::dims padl() const { return {pt, pl}; }
  memory::dims padr() const {
    int64_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
    return {(oh - 1) * sh + ekh - h - pt, (ow - 1) * sw + ekw - w - pl};
  }
};

convolution_forward::desc fwd_desc(const ConvGeom &g, prop_kind pk, bool bias) {
  if (bias)
    return convolution_forward::desc(pk, algorithm::convolution_direct, g.src(), g.wei_any(), memory::desc({g.cout}, dt::f32, tag::a), g.dst(), g.strides(),
                                     g.dil(), g.padl(), g.padr());
  return convolution_forward::desc(pk, algorithm::convolution_direct, g.src(), g.wei_any(), g.dst(), g.strides(), g.dil(), g.padl(), g.padr());
}

struct ConvFwd {
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  bool reorder_w;
  reorder w_reorder;
  std::unique_ptr<OwnedBuffer> wbuf;
};

struct ConvBwdData {
  convolution_backward_data::primitive_desc pd;
  convolution_backward_data prim;
  bool reorder_w;
  reorder w_reorder;
  std::unique_ptr<OwnedBuffer> wbuf;
};

struct ConvBwdWeights {
  convolution_backward_weights::primitive_desc pd;
  convolution_backward_weights prim;
  bool reorder_w;
  reorder w_reorder;
  std::unique_ptr<OwnedBuffer> wbuf;
};

std::unordered_map<std::string, std::unique_ptr<ConvFwd>> g_fwd;
std::unordered_map<std::string, std::unique_ptr<ConvBwdData>> g_bwd_data;
std::unordered_map<std::string, std::unique_ptr<ConvBwdWeights>> g_bwd_w;

// act: 0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu(alpha)
void add_activation(post_ops &po, int act, float alpha) {
  switch (act) {
    case 0: return;
    case 1: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); return;
    case 2: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); return;
    case 3: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); return;
    case 4: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); return;
    case 5: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); return;
    default: throw JsError{"conv2d: unknown activation code " + std::to_string(act)};
  }
}

// 1×1 stride-1 convolutions as sgemm (defined below)
void conv1x1_fwd(int64_t R, int64_t C, int64_t B, const float *x, const float *w, float *y);
void conv1x1_bwd_data(int64_t R, int64_t C, int64_t B, const float *dy, const float *w, float *dx);
void conv1x1_bwd_w(int64_t R, int64_t C, int64_t B, const float *x, const float *dy, float *dw);
bool is_plain_1x1(const ConvGeom &g);
// oneDNN convolutions with cached primitives and weight reorders (defined below); bias may be null
void conv_fwd_raw(const ConvGeom &g, const float *x, const float *wt, const float *bias, int act, float alpha, float *y);
void conv_bwd_data_raw(const ConvGeom &g, const float *dy, const float *wt, float *dx);
void conv_bwd_w_raw(const ConvGeom &g, const float *x, const float *dy, float *dw);

// conv2d(x, filter, bias|null, y, params, act, alpha)
napi_value Conv2D(napi_env env, napi_callback_info info) {
  return guarded(env, info, 7, [&](std::vector<napi_value> &a) {
    ConvGeom g(intsarg(env, a[4], CONV_PARAMS, "params"));
    float *x = f32arg(env, a[0], g.n * g.h * g.w * g.cin, "x");
    float *wt = f32arg(env, a[1], g.kh * g.kw * g.cin * g.cout, "filter");
    bool has_bias = !is_null(env, a[2]);
    float *b = has_bias ? f32arg(env, a[2], g.cout, "bias") : nullptr;
    float *y = f32arg(env, a[3], g.n * g.oh * g.ow * g.cout, "y");
    int act = static_cast<int>(numarg(env, a[5], "activation"));
    float alpha = static_cast<float>(numarg(env, a[6], "alpha"));
    if (!has_bias && act == 0 && is_plain_1x1(g)) {
      conv1x1_fwd(g.n * g.h * g.w, g.cin, g.cout, x, wt, y);
      return undef(env);
    }
    conv_fwd_raw(g, x, wt, b, act, alpha, y);
    return undef(env);
  });
}

// conv2dBackpropInput(dy, filter, dx, params)
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    ConvGeom g(intsarg(env, a[3], CONV_PARAMS, "params"));
    float *dy = f32arg(env, a[0], g.n * g.oh * g.ow * g.cout, "dy");
    float *wt = f32arg(env, a[1], g.kh * g.kw * g.cin * g.cout, "filter");
    float *dx = f32arg(env, a[2], g.n * g.h * g.w * g.cin, "dx");
    if (is_plain_1x1(g)) {
      conv1x1_bwd_data(g.n * g.h * g.w, g.cin, g.cout, dy, wt, dx);
      return undef(env);
    }
    conv_bwd_data_raw(g, dy, wt, dx);
    return undef(env);
  });
}

// conv2dBackpropFilter(x, dy, dw, params)
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    ConvGeom g(intsarg(env, a[3], CONV_PARAMS, "params"));
    float *x = f32arg(env, a[0], g.n * g.h * g.w * g.cin, "x");
    float *dy = f32arg(env, a[1], g.n * g.oh * g.ow * g.cout, "dy");
    float *dw = f32arg(env, a[2], g.kh * g.kw * g.cin * g.cout, "dw");
    if (is_plain_1x1(g)) {
      conv1x1_bwd_w(g.n * g.h * g.w, g.cin, g.cout, x, dy, dw);
      return undef(env);
    }
    conv_bwd_w_raw(g, x, dy, dw);
    return undef(env);
  });
}

// ---- pooling gradients (plain loops; tfjs's rules) -------------------------------------------------------

// Pool geometry: n, h, w, c, oh, ow, kh, kw, sh, sw, padTop, padLeft
constexpr size_t POOL_PARAMS = 12;

// Gradient to the FIRST maximum of each window in row-major order, padding excluded (cpu backend / TF rule).
void max_pool_grad_raw(const int64_t *p, const float *dy, const float *x, float *dx) {
  PROF(12);
  {
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], top = p[10], left = p[11];
    // images are independent: one per thread. Per window, 4 channels at a time with branch-free selects (first strict
    // maximum wins; NaN never wins): on random data a branch per element mispredicts half the time (5-20x slower).
#pragma omp parallel for schedule(static) if (n * h * w * c >= PAR_MIN)
    for (int64_t b = 0; b < n; b++) {
      std::vector<int32_t> where(c);
      float *dxb = dx + b * h * w * c;
      std::memset(dxb, 0, sizeof(float) * h * w * c);
      for (int64_t i = 0; i < oh; i++) {
        for (int64_t j = 0; j < ow; j++) {
          int32_t *__restrict wp = where.data();
          // window extent clipped to the image (padding excluded)
          const int64_t r0 = std::max<int64_t>(i * sh - top, 0), r1 = std::min<int64_t>(i * sh - top + kh, h);
          const int64_t q0 = std::max<int64_t>(j * sw - left, 0), q1 = std::min<int64_t>(j * sw - left + kw, w);
          const float *xb = x + b * h * w * c;
          int64_t k = 0;
          // 4 channels at a time in vector registers (GCC vector extensions: SSE2 at least), branch-free selects
          for (; k + 4 <= c; k += 4) {
            v4f bv = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
            v4i wv = {-1, -1, -1, -1};
            for (int64_t r = r0; r < r1; r++) {
              for (int64_t q = q0; q < q1; q++) {
                const int32_t base = static_cast<int32_t>((r * w + q) * c + k);
                v4f val;
                std::memcpy(&val, xb + base, sizeof(val));
                const v4i gt = val > bv;
                bv = gt ? val : bv;
                const v4i idx = {base, base + 1, base + 2, base + 3};
                wv = gt ? idx : wv;
              }
            }
            std::memcpy(wp + k, &wv, sizeof(wv));
          }
          for (; k < c; k++) {
            float bk = -INFINITY;
            int32_t wk = -1;
            for (int64_t r = r0; r < r1; r++) {
              for (int64_t q = q0; q < q1; q++) {
                const int32_t at = static_cast<int32_t>((r * w + q) * c + k);
                if (xb[at] > bk) {
                  bk = xb[at];
                  wk = at;
                }
              }
            }
            wp[k] = wk;
          }
          const float *g = dy + ((b * oh + i) * ow + j) * c;
          for (int64_t k = 0; k < c; k++)
            if (wp[k] >= 0) dxb[wp[k]] += g[k];
        }
      }
    }
  }
}

napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    auto p = intsarg(env, a[3], POOL_PARAMS, "params");
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5];
    const float *dy = f32arg(env, a[0], n * oh * ow * c, "dy");
    const float *x = f32arg(env, a[1], n * h * w * c, "x");
    float *dx = f32arg(env, a[2], n * h * w * c, "dx");
    max_pool_grad_raw(p.data(), dy, x, dx);
    return undef(env);
  });
}

// dx = Σ over windows containing the pixel of dy / (kh·kw): the cpu backend's AvgPoolGrad (the divisor is the
// full window, padding included, unlike its forward pass; we keep the backends identical).
void avg_pool_grad_raw(const int64_t *p, const float *dy, float *dx) {
  PROF(12);
  {
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], top = p[10], left = p[11];
    const float mult = 1.f / static_cast<float>(kh * kw);
#pragma omp parallel for schedule(static) if (n * h * w * c >= PAR_MIN)
    for (int64_t b = 0; b < n; b++) {
      std::memset(dx + b * h * w * c, 0, sizeof(float) * h * w * c);
      for (int64_t i = 0; i < oh; i++) {
        for (int64_t j = 0; j < ow; j++) {
          const float *g = dy + ((b * oh + i) * ow + j) * c;
          for (int64_t u = 0; u < kh; u++) {
            int64_t r = i * sh - top + u;
            if (r < 0 || r >= h) continue;
            for (int64_t v = 0; v < kw; v++) {
              int64_t q = j * sw - left + v;
              if (q < 0 || q >= w) continue;
              float *d = dx + ((b * h + r) * w + q) * c;
              for (int64_t k = 0; k < c; k++) d[k] += g[k] * mult;
            }
          }
        }
      }
    }
  }
}

napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 3, [&](std::vector<napi_value> &a) {
    auto p = intsarg(env, a[2], POOL_PARAMS, "params");
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5];
    const float *dy = f32arg(env, a[0], n * oh * ow * c, "dy");
    float *dx = f32arg(env, a[1], n * h * w * c, "dx");
    avg_pool_grad_raw(p.data(), dy, dx);
    return undef(env);
  });
}

// ---- per-channel broadcasts (batch norm's graph) --------------------------------------------------------

// binaryChannel(op, a, b, out, rows, cols, aIsVec, bIsVec): out[r,c] = a[r,c]|a[c] (op) b[r,c]|b[c] for a [rows, cols]
// output (an NHWC tensor viewed as [N·H·W, C]) and operands that are either full or one value per channel.
// op: 0 add, 1 sub, 2 mul, 3 div. The wasm backend's broadcasting path computes an index per element (~20x slower).
napi_value BinaryChannel(napi_env env, napi_callback_info info) {
  return guarded(env, info, 8, [&](std::vector<napi_value> &a) {
    const int op = static_cast<int>(numarg(env, a[0], "op"));
    const int64_t rows = static_cast<int64_t>(numarg(env, a[4], "rows")), cols = static_cast<int64_t>(numarg(env, a[5], "cols"));
    bool av, bv;
    NAPI_OK(napi_get_value_bool(env, a[6], &av));
    NAPI_OK(napi_get_value_bool(env, a[7], &bv));
    if (op < 0 || op > 3) throw JsError{"binaryChannel: op must be 0..3"};
    const float *x = f32arg(env, a[1], av ? cols : rows * cols, "a");
    const float *y = f32arg(env, a[2], bv ? cols : rows * cols, "b");
    float *o = f32arg(env, a[3], rows * cols, "out");
#pragma omp parallel for schedule(static) if (rows * cols >= PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
      const float *__restrict xr = av ? x : x + r * cols;
      const float *__restrict yr = bv ? y : y + r * cols;
      float *__restrict orow = o + r * cols;
      switch (op) {
        case 0: for (int64_t k = 0; k < cols; k++) orow[k] = xr[k] + yr[k]; break;
        case 1: for (int64_t k = 0; k < cols; k++) orow[k] = xr[k] - yr[k]; break;
        case 2: for (int64_t k = 0; k < cols; k++) orow[k] = xr[k] * yr[k]; break;
        default: for (int64_t k = 0; k < cols; k++) orow[k] = xr[k] / yr[k]; break;
      }
    }
    return undef(env);
  });
}

// binaryFlat(op, a, b, out, n, aIsScalar, bIsScalar): same-shape or scalar operands, op as in binaryChannel.
napi_value BinaryFlat(napi_env env, napi_callback_info info) {
  return guarded(env, info, 7, [&](std::vector<napi_value> &a) {
    const int op = static_cast<int>(numarg(env, a[0], "op"));
    const int64_t n = static_cast<int64_t>(numarg(env, a[4], "n"));
    bool as, bs;
    NAPI_OK(napi_get_value_bool(env, a[5], &as));
    NAPI_OK(napi_get_value_bool(env, a[6], &bs));
    if (op < 0 || op > 3) throw JsError{"binaryFlat: op must be 0..3"};
    const float *x = f32arg(env, a[1], as ? 1 : n, "a");
    const float *y = f32arg(env, a[2], bs ? 1 : n, "b");
    float *o = f32arg(env, a[3], n, "out");
    constexpr int64_t BLOCK = 4096;
    const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t blk = 0; blk < blocks; blk++) {
      const int64_t lo = blk * BLOCK, hi = std::min(n, lo + BLOCK);
      const float xs = as ? x[0] : 0.f, ys = bs ? y[0] : 0.f;
      const float *__restrict xp = x;
      const float *__restrict yp = y;
      float *__restrict op_ = o;
#define EAS_LOOP(EXPR)                                 \
  for (int64_t k = lo; k < hi; k++) {                  \
    const float xa = as ? xs : xp[k], yb = bs ? ys : yp[k]; \
    op_[k] = EXPR;                                     \
  }
      switch (op) {
        case 0: EAS_LOOP(xa + yb) break;
        case 1: EAS_LOOP(xa - yb) break;
        case 2: EAS_LOOP(xa * yb) break;
        default: EAS_LOOP(xa / yb) break;
      }
#undef EAS_LOOP
    }
    return undef(env);
  });
}

// unary(op, x, out, n, alpha): 0 relu, 1 step (x > 0 ? 1 : alpha; NaN stays NaN), 2 square — tfjs's definitions.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value> &a) {
    const int op = static_cast<int>(numarg(env, a[0], "op"));
    const int64_t n = static_cast<int64_t>(numarg(env, a[3], "n"));
    const float alpha = static_cast<float>(numarg(env, a[4], "alpha"));
    if (op < 0 || op > 2) throw JsError{"unary: op must be 0..2"};
    const float *__restrict x = f32arg(env, a[1], n, "x");
    float *__restrict o = f32arg(env, a[2], n, "out");
    constexpr int64_t BLOCK = 4096;
    const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t blk = 0; blk < blocks; blk++) {
      const int64_t lo = blk * BLOCK, hi = std::min(n, lo + BLOCK);
      switch (op) {
        case 0: for (int64_t k = lo; k < hi; k++) o[k] = std::isnan(x[k]) ? x[k] : (x[k] > 0.f ? x[k] : 0.f); break;
        case 1: for (int64_t k = lo; k < hi; k++) o[k] = std::isnan(x[k]) ? x[k] : (x[k] > 0.f ? 1.f : alpha); break;
        default: for (int64_t k = lo; k < hi; k++) o[k] = x[k] * x[k]; break;
      }
    }
    return undef(env);
  });
}

// columnSums(x, out, rows, cols, scale): out[c] = scale · Σ_r x[r, c], float64 accumulators (Sum/Mean over the
// leading axes: batch norm's statistics and gradients). Each thread sums a block of rows; partials are added in
// thread order, so a given thread count gives the same result every time.
napi_value ColumnSums(napi_env env, napi_callback_info info) {
  return guarded(env, info, 5, [&](std::vector<napi_value> &a) {
    const int64_t rows = static_cast<int64_t>(numarg(env, a[2], "rows")), cols = static_cast<int64_t>(numarg(env, a[3], "cols"));
    const double scale = numarg(env, a[4], "scale");
    const float *x = f32arg(env, a[0], rows * cols, "x");
    float *out = f32arg(env, a[1], cols, "out");
    const int nt = rows * cols >= PAR_MIN ? omp_get_max_threads() : 1;
    const size_t ps = part_stride(cols, sizeof(double));
    std::vector<double> part(nt * ps, 0.0);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t lo = rows * t / T, hi = rows * (t + 1) / T;
      double *__restrict acc = part.data() + t * ps;
      for (int64_t r = lo; r < hi; r++) {
        const float *__restrict xr = x + r * cols;
        for (int64_t k = 0; k < cols; k++) acc[k] += xr[k];
      }
    }
    for (int64_t k = 0; k < cols; k++) {
      double sum = 0;
      for (int t = 0; t < nt; t++) sum += part[t * ps + k];
      out[k] = static_cast<float>(sum * scale);
    }
    return undef(env);
  });
}

// moments(x, stats, rows, cols): stats = [mean (cols) ; variance (cols)] over the rows, two passes (mean, then the
// squared deviations) with float64 accumulators, each pass split over threads by blocks of rows.
napi_value Moments(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    const int64_t rows = static_cast<int64_t>(numarg(env, a[2], "rows")), cols = static_cast<int64_t>(numarg(env, a[3], "cols"));
    if (rows < 1 || cols < 1) throw JsError{"moments: rows and cols must be ≥ 1"};
    const float *x = f32arg(env, a[0], rows * cols, "x");
    float *stats = f32arg(env, a[1], 2 * cols, "stats");
    const int nt = rows * cols >= PAR_MIN ? omp_get_max_threads() : 1;
    const size_t ps = part_stride(cols, sizeof(double));
    std::vector<double> part(nt * ps);
    std::vector<double> mean(cols);
    for (int pass = 0; pass < 2; pass++) {
      std::fill(part.begin(), part.end(), 0.0);
      const double *__restrict mp = mean.data();
#pragma omp parallel num_threads(nt)
      {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t lo = rows * t / T, hi = rows * (t + 1) / T;
        double *__restrict acc = part.data() + t * ps;
        for (int64_t r = lo; r < hi; r++) {
          const float *__restrict xr = x + r * cols;
          if (pass == 0)
            for (int64_t k = 0; k < cols; k++) acc[k] += xr[k];
          else
            for (int64_t k = 0; k < cols; k++) {
              const double d = xr[k] - mp[k];
              acc[k] += d * d;
            }
        }
      }
      for (int64_t k = 0; k < cols; k++) {
        double sum = 0;
        for (int t = 0; t < nt; t++) sum += part[t * ps + k];
        if (pass == 0) {
          mean[k] = sum / rows;
          stats[k] = static_cast<float>(mean[k]);
        } else {
          stats[cols + k] = static_cast<float>(sum / rows);
        }
      }
    }
    return undef(env);
  });
}

// momentsGrad(x, stats, dstats, dx, rows, cols): the gradient of moments() —
// dx = dmean/N + dvar · 2(x - mean)/N, with N = rows (Σ(x - mean) = 0 removes the variance's path through the mean).
napi_value MomentsGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 6, [&](std::vector<napi_value> &a) {
    const int64_t rows = static_cast<int64_t>(numarg(env, a[4], "rows")), cols = static_cast<int64_t>(numarg(env, a[5], "cols"));
    const float *x = f32arg(env, a[0], rows * cols, "x");
    const float *stats = f32arg(env, a[1], 2 * cols, "stats");
    const float *dstats = f32arg(env, a[2], 2 * cols, "dstats");
    float *dx = f32arg(env, a[3], rows * cols, "dx");
    std::vector<float> c0(cols), c1(cols);
    for (int64_t k = 0; k < cols; k++) {
      c0[k] = static_cast<float>(static_cast<double>(dstats[k]) / rows);
      c1[k] = static_cast<float>(2.0 * dstats[cols + k] / rows);
    }
    const float *__restrict mn = stats;
    const float *__restrict p0 = c0.data();
    const float *__restrict p1 = c1.data();
#pragma omp parallel for schedule(static) if (rows * cols >= PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
      const float *__restrict xr = x + r * cols;
      float *__restrict dr = dx + r * cols;
      for (int64_t k = 0; k < cols; k++) dr[k] = p0[k] + p1[k] * (xr[k] - mn[k]);
    }
    return undef(env);
  });
}

// batchNorm(x, mean, variance, offset|null, scale|null, y, rows, cols, eps): tfjs FusedBatchNorm with per-channel
// statistics: y = (x - mean) · scale / sqrt(variance + eps) + offset.
napi_value BatchNorm(napi_env env, napi_callback_info info) {
  return guarded(env, info, 9, [&](std::vector<napi_value> &a) {
    const int64_t rows = static_cast<int64_t>(numarg(env, a[6], "rows")), cols = static_cast<int64_t>(numarg(env, a[7], "cols"));
    const double eps = numarg(env, a[8], "eps");
    const float *x = f32arg(env, a[0], rows * cols, "x");
    const float *mean = f32arg(env, a[1], cols, "mean");
    const float *var = f32arg(env, a[2], cols, "variance");
    const float *off = is_null(env, a[3]) ? nullptr : f32arg(env, a[3], cols, "offset");
    const float *sc = is_null(env, a[4]) ? nullptr : f32arg(env, a[4], cols, "scale");
    float *y = f32arg(env, a[5], rows * cols, "y");
    // (x - mean)·m + offset, not x·m + (offset - mean·m): no cancellation when |mean| ≫ std
    std::vector<float> mul(cols), add(cols);
    for (int64_t k = 0; k < cols; k++) {
      mul[k] = static_cast<float>((sc ? sc[k] : 1.0) / std::sqrt(static_cast<double>(var[k]) + eps));
      add[k] = off ? off[k] : 0.f;
    }
    const float *__restrict mp = mul.data();
    const float *__restrict ap = add.data();
    const float *__restrict mn = mean;
#pragma omp parallel for schedule(static) if (rows * cols >= PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
      const float *__restrict xr = x + r * cols;
      float *__restrict yr = y + r * cols;
      for (int64_t k = 0; k < cols; k++) yr[k] = (xr[k] - mn[k]) * mp[k] + ap[k];
    }
    return undef(env);
  });
}

// ---- optimizer -----------------------------------------------------------------------------------------

// sgdNesterov(vars[], grads[], moms[], newVars[], newMoms[], lr, momentum, weightDecay, decayMask: Int32Array)
// tfjs's MomentumOptimizer (Nesterov) with g' = g + wd·v where decayMask[i]:
//   m' = μ·m + g';  v' = v - lr·(g' + μ·m')   — in float32, the same operation order as tfjs.
napi_value SgdNesterov(napi_env env, napi_callback_info info) {
  return guarded(env, info, 9, [&](std::vector<napi_value> &a) {
    uint32_t count;
    NAPI_OK(napi_get_array_length(env, a[0], &count));
    const float lr = static_cast<float>(numarg(env, a[5], "lr"));
    const float mu = static_cast<float>(numarg(env, a[6], "momentum"));
    const float wd = static_cast<float>(numarg(env, a[7], "weightDecay"));
    auto mask = intsarg(env, a[8], count, "decayMask");
    for (uint32_t i = 0; i < count; i++) {
      napi_value vv, gv, mv, nvv, nmv;
      NAPI_OK(napi_get_element(env, a[0], i, &vv));
      NAPI_OK(napi_get_element(env, a[1], i, &gv));
      NAPI_OK(napi_get_element(env, a[2], i, &mv));
      NAPI_OK(napi_get_element(env, a[3], i, &nvv));
      NAPI_OK(napi_get_element(env, a[4], i, &nmv));
      size_t len;
      napi_typedarray_type t;
      void *d;
      napi_value ab;
      size_t off;
      NAPI_OK(napi_get_typedarray_info(env, vv, &t, &len, &d, &ab, &off));
      const float *v = f32arg(env, vv, len, "vars[i]");
      const float *g = f32arg(env, gv, len, "grads[i]");
      const float *m = f32arg(env, mv, len, "moms[i]");
      float *nv = f32arg(env, nvv, len, "newVars[i]");
      float *nm = f32arg(env, nmv, len, "newMoms[i]");
      const bool decay = mask[i] != 0 && wd != 0.f;
      for (size_t k = 0; k < len; k++) {
        float gk = decay ? g[k] + wd * v[k] : g[k];
        float mk = m[k] * mu + gk;
        nm[k] = mk;
        nv[k] = v[k] - lr * (gk + mk * mu);
      }
    }
    return undef(env);
  });
}


// ---- internal convolution calls (raw pointers; the same primitive caches as the N-API entry points) --------

ConvGeom conv_geom(int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t k) {
  const int64_t p = (k - 1) / 2;  // 'same', stride 1 (odd k)
  return ConvGeom({n, h, w, cin, h, w, cout, k, k, 1, 1, 1, 1, p, p, k - 1 - p, k - 1 - p});
}

// Runs its scope on n OpenMP threads, then restores the count: the engine's ICV is per calling thread, so this only
// changes what oneDNN reads while the scope lasts.
struct ThreadsFor {
  int prev;
  explicit ThreadsFor(int n) : prev(omp_get_max_threads()) {
    if (n != prev) omp_set_num_threads(n);
  }
  ~ThreadsFor() {
    if (omp_get_max_threads() != prev) omp_set_num_threads(prev);
  }
  ThreadsFor(const ThreadsFor &) = delete;
  ThreadsFor &operator=(const ThreadsFor &) = delete;
};

// A convolution too small to split pays more for the fork, join and the weight-gradient reduction across threads than
// a second thread saves. Measured on 2 cores (Zen 5), batch 64, 3×3, 32 → 8 channels (a DenseNet's layer), two threads
// against one: 7×7 maps (7.2 M multiply-adds) 1.0× forward, 1.0× input gradients, 1.0× weight gradients (2.7× slower
// inside a whole step); 14×14 (29 M) 1.9× / 0.41× / 1.8×; 12×12 (21 M) input gradients 1.7×; 28×28 (116 M) 2.0–2.1×;
// the Table-1 net's layers (75 M) 1.6–2.1×. Below these many multiply-adds a convolution's primitive is made (and so
// runs) on one thread — the input gradients' bound errs to one thread, for oneDNN's jit kernel at 14×14 — and so are
// small weight reorders.
constexpr int64_t CONV_PAR_MIN_MACS = 1 << 24, CONV_BWD_DATA_PAR_MIN_MACS = 1 << 25;
int conv_threads(const ConvGeom &g, int64_t min_macs = CONV_PAR_MIN_MACS) {
  return g.n * g.oh * g.ow * g.cout * g.cin * g.kh * g.kw < min_macs ? 1 : omp_get_max_threads();
}
int reorder_threads(const ConvGeom &g) { return g.cout * g.cin * g.kh * g.kw < PAR_MIN ? 1 : omp_get_max_threads(); }

// A cached primitive's key: the geometry and the thread count. oneDNN fixes a primitive's partition of the work when
// it is created (its kernels run `omp parallel num_threads(nthr)` with the nthr of that moment), so a primitive made
// on one thread stays on one thread after setThreads(2), and one made on two threads uses two after setThreads(1).
std::string prim_key(const ConvGeom &g) { return g.key() + "t" + std::to_string(omp_get_max_threads()) + ":"; }

void conv_fwd_raw(const ConvGeom &g, const float *x, const float *wt, const float *bias, int act, float alpha, float *y) {
  PROF(3);
  ThreadsFor threads(conv_threads(g));
  const bool has_bias = bias != nullptr;
  std::string key = prim_key(g) + (has_bias ? "b" : "") + std::to_string(act) + ":" + std::to_string(alpha);
  auto &slot = g_fwd[key];
  if (!slot) {
    primitive_attr attr;
    post_ops po;
    add_activation(po, act, alpha);
    attr.set_post_ops(po);
    auto pd = convolution_forward::primitive_desc(fwd_desc(g, prop_kind::forward_training, has_bias), attr, eng());
    auto e = std::make_unique<ConvFwd>(ConvFwd{pd, convolution_forward(pd), pd.weights_desc() != g.wei_user(), reorder(), nullptr});
    if (e->reorder_w) {
      e->w_reorder = reorder(memory(g.wei_user(), eng(), nullptr), memory(pd.weights_desc(), eng(), nullptr));
      e->wbuf = std::make_unique<OwnedBuffer>(pd.weights_desc().get_size());
    }
    slot = std::move(e);
  }
  ConvFwd &c = *slot;
  memory wu(g.wei_user(), eng(), const_cast<float *>(wt));
  memory wm = wu;
  if (c.reorder_w) {
    wm = memory(c.pd.weights_desc(), eng(), c.wbuf->data.data());
    ThreadsFor small(reorder_threads(g));
    c.w_reorder.execute(strm(), wu, wm);
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(g.src(), eng(), const_cast<float *>(x))}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, memory(g.dst(), eng(), y)}};
  if (has_bias) args.insert({DNNL_ARG_BIAS, memory(memory::desc({g.cout}, dt::f32, tag::a), eng(), const_cast<float *>(bias))});
  c.prim.execute(strm(), args);
  strm().wait();
}

void conv_bwd_data_raw(const ConvGeom &g, const float *dy, const float *wt, float *dx) {
  PROF(7);
  ThreadsFor threads(conv_threads(g, CONV_BWD_DATA_PAR_MIN_MACS));
  auto &slot = g_bwd_data[prim_key(g)];
  if (!slot) {
    auto hint = convolution_forward::primitive_desc(fwd_desc(g, prop_kind::forward_training, false), eng());
    convolution_backward_data::desc d(algorithm::convolution_direct, g.src(), g.wei_any(), g.dst(), g.strides(), g.dil(), g.padl(), g.padr());
    auto pd = convolution_backward_data::primitive_desc(d, eng(), hint);
    auto e = std::make_unique<ConvBwdData>(ConvBwdData{pd, convolution_backward_data(pd), pd.weights_desc() != g.wei_user(), reorder(), nullptr});
    if (e->reorder_w) {
      e->w_reorder = reorder(memory(g.wei_user(), eng(), nullptr), memory(pd.weights_desc(), eng(), nullptr));
      e->wbuf = std::make_unique<OwnedBuffer>(pd.weights_desc().get_size());
    }
    slot = std::move(e);
  }
  ConvBwdData &c = *slot;
  memory wu(g.wei_user(), eng(), const_cast<float *>(wt));
  memory wm = wu;
  if (c.reorder_w) {
    wm = memory(c.pd.weights_desc(), eng(), c.wbuf->data.data());
    ThreadsFor small(reorder_threads(g));
    c.w_reorder.execute(strm(), wu, wm);
  }
  c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), const_cast<float *>(dy))}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, memory(g.src(), eng(), dx)}});
  strm().wait();
}

void conv_bwd_w_raw(const ConvGeom &g, const float *x, const float *dy, float *dw) {
  PROF(6);
  ThreadsFor threads(conv_threads(g));
  auto &slot = g_bwd_w[prim_key(g)];
  if (!slot) {
    auto hint = convolution_forward::primitive_desc(fwd_desc(g, prop_kind::forward_training, false), eng());
    convolution_backward_weights::desc d(algorithm::convolution_direct, g.src(), g.wei_any(), g.dst(), g.strides(), g.dil(), g.padl(), g.padr());
    auto pd = convolution_backward_weights::primitive_desc(d, eng(), hint);
    auto e = std::make_unique<ConvBwdWeights>(ConvBwdWeights{pd, convolution_backward_weights(pd), pd.diff_weights_desc() != g.wei_user(), reorder(), nullptr});
    if (e->reorder_w) {
      e->w_reorder = reorder(memory(pd.diff_weights_desc(), eng(), nullptr), memory(g.wei_user(), eng(), nullptr));
      e->wbuf = std::make_unique<OwnedBuffer>(pd.diff_weights_desc().get_size());
    }
    slot = std::move(e);
  }
  ConvBwdWeights &c = *slot;
  memory wu(g.wei_user(), eng(), dw);
  memory wm = c.reorder_w ? memory(c.pd.diff_weights_desc(), eng(), c.wbuf->data.data()) : wu;
  c.prim.execute(strm(), {{DNNL_ARG_SRC, memory(g.src(), eng(), const_cast<float *>(x))}, {DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), const_cast<float *>(dy))}, {DNNL_ARG_DIFF_WEIGHTS, wm}});
  if (c.reorder_w) {
    ThreadsFor small(reorder_threads(g));
    c.w_reorder.execute(strm(), wm, wu);
  }
  strm().wait();
}

// A 1×1, stride-1 convolution on NHWC is a matrix product over the rows r = (n, h, w): Y[R, B] = X[R, C] · W[C, B]
// (HWIO filters are [C, B] row-major). oneDNN's sgemm runs these tall, thin products several times faster than its
// 1×1 convolution primitives at DenseNet sizes (C, B ≤ a few hundred; measured: brgconv_1x1 forward at ≈ 1/4 the speed
// of the same product's backward-data primitive).
void gemm_check(dnnl_status_t st) {
  if (st != dnnl_success) throw JsError{"oneDNN sgemm failed (status " + std::to_string(static_cast<int>(st)) + ")"};
}
void conv1x1_fwd(int64_t R, int64_t C, int64_t B, const float *x, const float *w, float *y) {
  PROF(2);
  gemm_check(dnnl_sgemm('N', 'N', R, B, C, 1.f, x, C, w, B, 0.f, y, B));
}
void conv1x1_bwd_data(int64_t R, int64_t C, int64_t B, const float *dy, const float *w, float *dx) {
  PROF(9);
  gemm_check(dnnl_sgemm('N', 'T', R, C, B, 1.f, dy, B, w, B, 0.f, dx, C));
}
void conv1x1_bwd_w(int64_t R, int64_t C, int64_t B, const float *x, const float *dy, float *dw) {
  PROF(8);
  gemm_check(dnnl_sgemm('T', 'N', C, B, R, 1.f, x, C, dy, B, 0.f, dw, B));
}
bool is_plain_1x1(const ConvGeom &g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w;
}

// ---- fused batch norm + ReLU (training: batch statistics) ------------------------------------------------


// Scratch memory the dense-block kernels reuse from call to call (grows to the largest block seen, then stays).
struct Scratch {
  std::vector<float> v;
  float *get(size_t n) {
    if (v.size() < n) {
      g_live_bytes += static_cast<int64_t>((n - v.size()) * sizeof(float));
      if (v.empty()) g_live_buffers++;
      v.resize(n);
    }
    return v.data();
  }
  void release() {
    if (v.empty()) return;
    g_live_buffers--;
    g_live_bytes -= static_cast<int64_t>(v.size() * sizeof(float));
    std::vector<float>().swap(v);
  }
};
Scratch g_t2, g_t3, g_d1, g_d2, g_grad;

int threads_for(int64_t n) { return n >= PAR_MIN ? omp_get_max_threads() : 1; }

// The hot loops below are compiled for AVX-512, AVX2 and baseline x86-64, the CPU picking its best at load time
// (GCC target_clones; the addon is otherwise built for baseline x86-64). Each runs on a block of rows [lo, hi) and
// is branch-free (the ReLU mask is a select, never a jump: on real activations it is a coin flip).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EAS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EAS_CLONES
#endif

EAS_CLONES void sum_range(const float *__restrict x, int64_t ld, int64_t lo, int64_t hi, int64_t C, double *__restrict acc) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict xr = x + r * ld;
    for (int64_t k = 0; k < C; k++) acc[k] += xr[k];
  }
}

EAS_CLONES void sqdev_range(const float *__restrict x, int64_t ld, int64_t lo, int64_t hi, int64_t C, const double *__restrict m, double *__restrict acc) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict xr = x + r * ld;
    for (int64_t k = 0; k < C; k++) {
      const double d = xr[k] - m[k];
      acc[k] += d * d;
    }
  }
}

EAS_CLONES void bn_relu_range(const float *__restrict x, int64_t ldx, int64_t lo, int64_t hi, int64_t C, const float *__restrict mn, const float *__restrict mp,
                              const float *__restrict ap, float *__restrict y, int64_t ldy) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict xr = x + r * ldx;
    float *__restrict yr = y + r * ldy;
    for (int64_t k = 0; k < C; k++) {
      const float v = (xr[k] - mn[k]) * mp[k] + ap[k];
      yr[k] = v > 0.f ? v : 0.f;
    }
  }
}

// Σ g and Σ g·x̂ per channel, g = dz·[x̂·gamma + beta > 0]; float partial sums over 32-row chunks, added to float64
EAS_CLONES void bn_bwd_sums_range(const float *__restrict x, int64_t ldx, int64_t lo, int64_t hi, int64_t C, const float *__restrict mn, const float *__restrict ip,
                                  const float *__restrict gp, const float *__restrict bp, const float *__restrict dz, double *__restrict sg, double *__restrict sgx,
                                  float *__restrict fs, float *__restrict fsx) {
  for (int64_t r0 = lo; r0 < hi; r0 += 32) {
    const int64_t r1 = std::min(hi, r0 + 32);
    for (int64_t k = 0; k < C; k++) fs[k] = fsx[k] = 0.f;
    for (int64_t r = r0; r < r1; r++) {
      const float *__restrict xr = x + r * ldx;
      const float *__restrict dr = dz + r * C;
      for (int64_t k = 0; k < C; k++) {
        const float xh = (xr[k] - mn[k]) * ip[k];
        const float d = dr[k];
        const float g = xh * gp[k] + bp[k] > 0.f ? d : 0.f;
        fs[k] += g;
        fsx[k] += g * xh;
      }
    }
    for (int64_t k = 0; k < C; k++) {
      sg[k] += fs[k];
      sgx[k] += fsx[k];
    }
  }
}

// dx = gamma·invstd·(g − mean(g) − x̂·mean(g·x̂)); dz and dx may be the same buffer (in place: no __restrict on them)
EAS_CLONES void bn_bwd_dx_range(const float *__restrict x, int64_t ldx, int64_t lo, int64_t hi, int64_t C, const float *__restrict mn, const float *__restrict ip,
                                const float *__restrict gp, const float *__restrict bp, const float *__restrict mp, const float *__restrict p1, const float *__restrict p2,
                                const float *dz, float *dx, int64_t lddx, bool accumulate) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict xr = x + r * ldx;
    const float *dr = dz + r * C;
    float *o = dx + r * lddx;
    if (accumulate) {
      for (int64_t k = 0; k < C; k++) {
        const float xh = (xr[k] - mn[k]) * ip[k];
        const float d = dr[k];
        const float g = xh * gp[k] + bp[k] > 0.f ? d : 0.f;
        o[k] += mp[k] * (g - p1[k] - xh * p2[k]);
      }
    } else {
      for (int64_t k = 0; k < C; k++) {
        const float xh = (xr[k] - mn[k]) * ip[k];
        const float d = dr[k];
        const float g = xh * gp[k] + bp[k] > 0.f ? d : 0.f;
        o[k] = mp[k] * (g - p1[k] - xh * p2[k]);
      }
    }
  }
}

// mean and (biased) variance of x[r, 0:C] (row stride ld) over the R rows, float64 accumulators, two passes
// (the same arithmetic as moments()).
void moments_rows(const float *x, int64_t ld, int64_t R, int64_t C, float *mean, float *var) {
  PROF(1);
  const int nt = threads_for(R * C);
  const size_t ps = part_stride(C, sizeof(double));
  std::vector<double> part(nt * ps);
  std::vector<double> m(C);
  for (int pass = 0; pass < 2; pass++) {
    std::fill(part.begin(), part.end(), 0.0);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t lo = R * t / T, hi = R * (t + 1) / T;
      double *acc = part.data() + t * ps;
      if (pass == 0)
        sum_range(x, ld, lo, hi, C, acc);
      else
        sqdev_range(x, ld, lo, hi, C, m.data(), acc);
    }
    for (int64_t k = 0; k < C; k++) {
      double s = 0;
      for (int t = 0; t < nt; t++) s += part[t * ps + k];
      if (pass == 0) {
        m[k] = s / R;
        mean[k] = static_cast<float>(m[k]);
      } else {
        var[k] = static_cast<float>(s / R);
      }
    }
  }
}

// A fused BN-ReLU's per-channel scale gamma/sqrt(var + eps), in double then float: the arithmetic every BN-ReLU here
// shares (bn_relu_range's mp; its ap is beta itself), so that fused and unfused paths give the same values.
std::vector<float> bn_scale(const float *gamma, const float *var, double eps, int64_t C) {
  std::vector<float> mul(C);
  for (int64_t k = 0; k < C; k++) mul[k] = static_cast<float>(gamma[k] / std::sqrt(static_cast<double>(var[k]) + eps));
  return mul;
}

// y[r, 0:C] (stride ldy) = relu((x - mean) · gamma/sqrt(var + eps) + beta)
void bn_relu_rows(const float *x, int64_t ldx, int64_t R, int64_t C, const float *mean, const float *var, const float *gamma, const float *beta, double eps, float *y,
                  int64_t ldy) {
  PROF(0);
  const std::vector<float> mul = bn_scale(gamma, var, eps, C);
  const int nt = threads_for(R * C);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    bn_relu_range(x, ldx, R * t / T, R * (t + 1) / T, C, mean, mul.data(), beta, y, ldy);
  }
}

// The gradient of y = relu(bn(x)) with batch statistics, given dz = dL/dy (dense [R, C]):
//   g = dz · [bn(x) > 0];  dbeta = Σ g;  dgamma = Σ g·x̂;  dx = gamma·invstd · (g − dbeta/R − x̂·dgamma/R)
// in two stages: the sums (bn_relu_bwd_sums: dgamma, dbeta and the dx stage's coefficients), then dx row by row.
struct BnBwdCoefs {
  std::vector<float> inv, mul, c1, c2;
};

BnBwdCoefs bn_relu_bwd_sums(const float *x, int64_t ldx, int64_t R, int64_t C, const float *mean, const float *var, const float *gamma, const float *beta, double eps,
                            const float *dz, float *dgamma, float *dbeta) {
  PROF(5);
  BnBwdCoefs k{std::vector<float>(C), std::vector<float>(C), std::vector<float>(C), std::vector<float>(C)};
  for (int64_t c = 0; c < C; c++) {
    k.inv[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
    k.mul[c] = gamma[c] * k.inv[c];
  }
  const int nt = threads_for(R * C);
  const size_t ps = part_stride(2 * C, sizeof(double)), fps = part_stride(2 * C, sizeof(float));
  std::vector<double> part(nt * ps, 0.0);
  std::vector<float> fpart(nt * fps);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    double *sg = part.data() + t * ps;
    float *fs = fpart.data() + t * fps;
    bn_bwd_sums_range(x, ldx, R * t / T, R * (t + 1) / T, C, mean, k.inv.data(), gamma, beta, dz, sg, sg + C, fs, fs + C);
  }
  for (int64_t c = 0; c < C; c++) {
    double s = 0, sx = 0;
    for (int t = 0; t < nt; t++) {
      s += part[t * ps + c];
      sx += part[t * ps + C + c];
    }
    dbeta[c] = static_cast<float>(s);
    dgamma[c] = static_cast<float>(sx);
    k.c1[c] = static_cast<float>(s / R);
    k.c2[c] = static_cast<float>(sx / R);
  }
  return k;
}

// dx (stride lddx) is written, or added to when accumulate; dz and dx may be the same buffer.
void bn_relu_bwd_rows(const float *x, int64_t ldx, int64_t R, int64_t C, const float *mean, const float *var, const float *gamma, const float *beta, double eps,
                      const float *dz, float *dx, int64_t lddx, bool accumulate, float *dgamma, float *dbeta) {
  const BnBwdCoefs k = bn_relu_bwd_sums(x, ldx, R, C, mean, var, gamma, beta, eps, dz, dgamma, dbeta);
  PROF(5);
  const int nt = threads_for(R * C);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    bn_bwd_dx_range(x, ldx, R * t / T, R * (t + 1) / T, C, mean, k.inv.data(), gamma, beta, k.mul.data(), k.c1.data(), k.c2.data(), dz, dx, lddx, accumulate);
  }
}

// bnReluFwd(x, gamma, beta, y, stats, rows, cols, eps): stats = [mean; variance] of x, y = relu(bn(x)).
napi_value BnReluFwd(napi_env env, napi_callback_info info) {
  return guarded(env, info, 8, [&](std::vector<napi_value> &a) {
    const int64_t R = static_cast<int64_t>(numarg(env, a[5], "rows")), C = static_cast<int64_t>(numarg(env, a[6], "cols"));
    if (R < 1 || C < 1) throw JsError{"bnReluFwd: rows and cols must be ≥ 1"};
    const double eps = numarg(env, a[7], "eps");
    const float *x = f32arg(env, a[0], R * C, "x");
    const float *gamma = f32arg(env, a[1], C, "gamma");
    const float *beta = f32arg(env, a[2], C, "beta");
    float *y = f32arg(env, a[3], R * C, "y");
    float *stats = f32arg(env, a[4], 2 * C, "stats");
    moments_rows(x, C, R, C, stats, stats + C);
    bn_relu_rows(x, C, R, C, stats, stats + C, gamma, beta, eps, y, C);
    return undef(env);
  });
}

// bnReluBwd(x, gamma, beta, stats, dy, dx, dgamma, dbeta, rows, cols, eps)
napi_value BnReluBwd(napi_env env, napi_callback_info info) {
  return guarded(env, info, 11, [&](std::vector<napi_value> &a) {
    const int64_t R = static_cast<int64_t>(numarg(env, a[8], "rows")), C = static_cast<int64_t>(numarg(env, a[9], "cols"));
    if (R < 1 || C < 1) throw JsError{"bnReluBwd: rows and cols must be ≥ 1"};
    const double eps = numarg(env, a[10], "eps");
    const float *x = f32arg(env, a[0], R * C, "x");
    const float *gamma = f32arg(env, a[1], C, "gamma");
    const float *beta = f32arg(env, a[2], C, "beta");
    const float *stats = f32arg(env, a[3], 2 * C, "stats");
    const float *dy = f32arg(env, a[4], R * C, "dy");
    float *dx = f32arg(env, a[5], R * C, "dx");
    float *dgamma = f32arg(env, a[6], C, "dgamma");
    float *dbeta = f32arg(env, a[7], C, "dbeta");
    bn_relu_bwd_rows(x, C, R, C, stats, stats + C, gamma, beta, eps, dy, dx, C, false, dgamma, dbeta);
    return undef(env);
  });
}

// ---- dense block (DenseNet-BC), memory-efficient -----------------------------------------------------------
//
// A block of L layers, layer l: BN-ReLU → conv1×1 (b_l) → BN-ReLU → conv3×3 (k_l), its output appended to the
// block's feature map. Forward writes the block's whole output [R, C_L] once (R = n·h·w rows, NHWC): the input is
// copied into its first C_0 channels and each layer's k_l new channels go straight after the previous ones, so no
// concatenation ever copies the growing map. The BN-ReLU outputs are not kept: they go to one shared scratch
// buffer and the backward pass recomputes them (Pleiss et al. 2017). Kept per layer: the conv1×1 output (bnk,
// [R, b_l]) and the batch statistics (stats: mean1, var1 (C_l each), mean2, var2 (b_l each)).
//
// spec: n, h, w, c0, L, then per layer growth, bottleneck.
// params (per layer, in order): gamma1, beta1, w1 [1,1,C_l,b_l], gamma2, beta2, w2 [3,3,b_l,k_l].

struct BlockSpec {
  int64_t n, h, w, c0, L, R;
  std::vector<int64_t> k, b, c;  // c[l] = channels into layer l; c[L] = output channels
  int64_t bnk_total = 0, stats_total = 0, kmax = 0, bmax = 0;
  explicit BlockSpec(const int32_t *s, size_t len) {
    if (len < 5) throw JsError{"denseBlock: spec too short"};
    n = s[0], h = s[1], w = s[2], c0 = s[3], L = s[4];
    if (n < 1 || h < 1 || w < 1 || c0 < 1 || L < 1 || len != static_cast<size_t>(5 + 2 * L)) throw JsError{"denseBlock: bad spec"};
    R = n * h * w;
    c.push_back(c0);
    for (int64_t l = 0; l < L; l++) {
      k.push_back(s[5 + 2 * l]);
      b.push_back(s[6 + 2 * l]);
      if (k.back() < 1 || b.back() < 1) throw JsError{"denseBlock: growth and bottleneck must be ≥ 1"};
      c.push_back(c.back() + k.back());
      bnk_total += R * b.back();
      stats_total += 2 * c[l] + 2 * b.back();
      kmax = std::max(kmax, k.back());
      bmax = std::max(bmax, b.back());
    }
  }
  int64_t ct() const { return c[L]; }
};

BlockSpec spec_arg(napi_env env, napi_value v) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) throw JsError{"spec: expected an Int32Array"};
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset));
  if (type != napi_int32_array) throw JsError{"spec: expected an Int32Array"};
  return BlockSpec(static_cast<const int32_t *>(data), length);
}

std::vector<float *> f32list(napi_env env, napi_value arr, const BlockSpec &s, const char *what) {
  uint32_t count;
  NAPI_OK(napi_get_array_length(env, arr, &count));
  if (count != static_cast<uint32_t>(6 * s.L)) throw JsError{std::string(what) + ": expected " + std::to_string(6 * s.L) + " arrays"};
  std::vector<float *> out(count);
  for (int64_t l = 0; l < s.L; l++) {
    const int64_t sizes[6] = {s.c[l], s.c[l], s.c[l] * s.b[l], s.b[l], s.b[l], 9 * s.b[l] * s.k[l]};
    for (int j = 0; j < 6; j++) {
      napi_value v;
      NAPI_OK(napi_get_element(env, arr, static_cast<uint32_t>(6 * l + j), &v));
      out[6 * l + j] = f32arg(env, v, static_cast<size_t>(sizes[j]), what);
    }
  }
  return out;
}

// copy rows: dst[r, 0:C] (stride ldd) = src[r, 0:C] (stride lds). Rows are short (a layer's growth: 8–64 floats), so
// an inline vector loop, not a memcpy call per row.
EAS_CLONES void copy_range(const float *__restrict src, int64_t lds, float *__restrict dst, int64_t ldd, int64_t lo, int64_t hi, int64_t C) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict s = src + r * lds;
    float *__restrict d = dst + r * ldd;
    for (int64_t k = 0; k < C; k++) d[k] = s[k];
  }
}
void copy_rows(const float *src, int64_t lds, float *dst, int64_t ldd, int64_t R, int64_t C) {
  PROF(4);
  const int nt = threads_for(R * C);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    copy_range(src, lds, dst, ldd, R * t / T, R * (t + 1) / T, C);
  }
}

// ---- row-chunked fusions of the 1×1 convolution with its BN-ReLU (cache-resident intermediates) -------------
//
// The block's map and the bottleneck tensors are megabytes (R = n·h·w rows); streaming BN-ReLU's output to memory
// and reading it back for the 1×1 convolution is what a DenseNet's time goes to once the per-op overhead is gone.
// These loops work on chunks of rows small enough for the BN-ReLU output to stay in L2 between the two steps; each
// thread takes a contiguous block of rows and calls sgemm on its chunks (single-threaded inside a parallel region).
Scratch g_chunk, g_dwpart;

int64_t chunk_rows(int64_t width) { return std::max<int64_t>(16, std::min<int64_t>(1024, 65536 / std::max<int64_t>(width, 1))); }

EAS_CLONES void sumsq_range(const float *__restrict x, int64_t ld, int64_t lo, int64_t hi, int64_t C, double *__restrict s1, double *__restrict s2) {
  for (int64_t r = lo; r < hi; r++) {
    const float *__restrict xr = x + r * ld;
    for (int64_t k = 0; k < C; k++) {
      const double v = xr[k];
      s1[k] += v;
      s2[k] += v * v;
    }
  }
}

// Inference's BN2-ReLU with given statistics, applied to each chunk of the product while it is in cache:
// y[r, 0:B] = relu((bk - mean)·gamma/sqrt(var + eps) + beta), bn_relu_rows's coefficients; bk is never stored.
struct BnReluAfter {
  const float *mean, *var, *gamma, *beta;
  float *y;
};

// bk = relu(bn1(out[:, 0:C])) · W1 (R × B), and bk's batch mean and variance (one pass: float64 Σx and Σx²) unless
// m2 is null. Inference: m2 null and `after` given: no bk (may be null), y = relu(bn2(bk)) with after's statistics.
void bnrelu_conv1x1_fwd(const float *out, int64_t CT, int64_t R, int64_t C, int64_t B, const float *m1, const float *v1, const float *gamma, const float *beta,
                        double eps, const float *w, float *bk, float *m2, float *v2, const BnReluAfter *after = nullptr) {
  PROF(2);
  const std::vector<float> mul = bn_scale(gamma, v1, eps, C);
  const std::vector<float> mul2 = after ? bn_scale(after->gamma, after->var, eps, B) : std::vector<float>();
  const int nt = threads_for(R * (C + B));
  const int64_t RC = chunk_rows(C);
  const size_t cs = part_stride(RC * C + (after ? RC * B : 0), sizeof(float)), ps = part_stride(2 * B, sizeof(double));
  float *scratch = g_chunk.get(nt * cs);
  std::vector<double> part(nt * ps, 0.0);
  std::vector<int> status(nt, 0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t lo = R * t / T, hi = R * (t + 1) / T;
    float *tc = scratch + t * cs;
    double *s1 = part.data() + t * ps;
    for (int64_t r0 = lo; r0 < hi; r0 += RC) {
      const int64_t n = std::min(hi, r0 + RC) - r0;
      bn_relu_range(out + r0 * CT, CT, 0, n, C, m1, mul.data(), beta, tc, C);
      float *prod = after ? tc + RC * C : bk + r0 * B;
      if (dnnl_sgemm('N', 'N', n, B, C, 1.f, tc, C, w, B, 0.f, prod, B) != dnnl_success) status[t] = 1;
      if (m2) sumsq_range(prod, B, 0, n, B, s1, s1 + B);
      if (after) bn_relu_range(prod, B, 0, n, B, after->mean, mul2.data(), after->beta, after->y + r0 * B, B);
    }
  }
  for (int st : status)
    if (st) throw JsError{"oneDNN sgemm failed"};
  if (!m2) return;
  for (int64_t k = 0; k < B; k++) {
    double s = 0, s2 = 0;
    for (int t = 0; t < nt; t++) {
      s += part[t * ps + k];
      s2 += part[t * ps + B + k];
    }
    const double m = s / R;
    m2[k] = static_cast<float>(m);
    v2[k] = static_cast<float>(std::max(0.0, s2 / R - m * m));
  }
}

// The 1×1 convolution's and BN1-ReLU's backward in one pass over row chunks: T1 = relu(bn1(out[:, 0:C])) recomputed
// per chunk, dW1 = Σ T1ᵀ·d2, d1 = d2·W1ᵀ (kept, R × C), BN1's sums; then dx added into g[:, 0:C] (stride CT).
//
// d2 arrives as the gradient at BN2-ReLU's output (dz2): each chunk first gets BN2-ReLU's dx stage, in place (bk, m2,
// gamma2, beta2 and k2 from bn_relu_bwd_sums), while it is in cache for the two products.
void conv1x1_bnrelu_bwd(const float *out, int64_t CT, int64_t R, int64_t C, int64_t B, const float *m1, const float *v1, const float *gamma, const float *beta,
                        double eps, const float *w, float *d2, float *dw, float *d1, float *g, float *dgamma, float *dbeta, const float *bk, const float *m2,
                        const float *gamma2, const float *beta2, const BnBwdCoefs &k2) {
  PROF(8);
  std::vector<float> inv(C);
  for (int64_t k = 0; k < C; k++) inv[k] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(v1[k]) + eps));
  const std::vector<float> mul = bn_scale(gamma, v1, eps, C);
  const int nt = threads_for(R * (C + B));
  const int64_t RC = chunk_rows(C);
  const size_t cs = part_stride(RC * C, sizeof(float)), ws = part_stride(C * B, sizeof(float));
  const size_t ps = part_stride(2 * C, sizeof(double)), fps = part_stride(2 * C, sizeof(float));
  float *scratch = g_chunk.get(nt * cs);
  float *dwp = g_dwpart.get(nt * ws);
  std::vector<double> part(nt * ps, 0.0);
  std::vector<float> fpart(nt * fps);
  std::vector<int> status(nt, 0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t lo = R * t / T, hi = R * (t + 1) / T;
    float *tc = scratch + t * cs;
    float *dwt = dwp + t * ws;
    std::fill(dwt, dwt + C * B, 0.f);
    double *sg = part.data() + t * ps;
    float *fs = fpart.data() + t * fps;
    for (int64_t r0 = lo; r0 < hi; r0 += RC) {
      const int64_t n = std::min(hi, r0 + RC) - r0;
      bn_bwd_dx_range(bk + r0 * B, B, 0, n, B, m2, k2.inv.data(), gamma2, beta2, k2.mul.data(), k2.c1.data(), k2.c2.data(), d2 + r0 * B, d2 + r0 * B, B, false);
      bn_relu_range(out + r0 * CT, CT, 0, n, C, m1, mul.data(), beta, tc, C);
      if (dnnl_sgemm('T', 'N', C, B, n, 1.f, tc, C, d2 + r0 * B, B, 1.f, dwt, B) != dnnl_success) status[t] = 1;
      if (dnnl_sgemm('N', 'T', n, C, B, 1.f, d2 + r0 * B, B, w, B, 0.f, d1 + r0 * C, C) != dnnl_success) status[t] = 1;
      bn_bwd_sums_range(out + r0 * CT, CT, 0, n, C, m1, inv.data(), gamma, beta, d1 + r0 * C, sg, sg + C, fs, fs + C);
    }
  }
  for (int st : status)
    if (st) throw JsError{"oneDNN sgemm failed"};
  for (int64_t i = 0; i < C * B; i++) {
    float s = 0;
    for (int t = 0; t < nt; t++) s += dwp[t * ws + i];
    dw[i] = s;
  }
  std::vector<float> c1(C), c2(C);
  for (int64_t k = 0; k < C; k++) {
    double s = 0, sx = 0;
    for (int t = 0; t < nt; t++) {
      s += part[t * ps + k];
      sx += part[t * ps + C + k];
    }
    dbeta[k] = static_cast<float>(s);
    dgamma[k] = static_cast<float>(sx);
    c1[k] = static_cast<float>(s / R);
    c2[k] = static_cast<float>(sx / R);
  }
  std::vector<float> gm(C);
  for (int64_t k = 0; k < C; k++) gm[k] = gamma[k] * inv[k];
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    bn_bwd_dx_range(out, CT, R * t / T, R * (t + 1) / T, C, m1, inv.data(), gamma, beta, gm.data(), c1.data(), c2.data(), d1, g, CT, true);
  }
}

// A dense block's forward pass, appending each layer's channels to out in place. Training (bnk given): every BatchNorm
// on batch statistics, written to stats (per layer mean1, var1 (C_l each), mean2, var2 (b_l each)), the conv1×1
// outputs kept in bnk for the backward pass. Inference (bnk null): every BatchNorm on the moving statistics read from
// stats (the same layout), with the same BN-ReLU arithmetic, nothing kept: BN2 is applied to the conv1×1 output chunk
// by chunk (BnReluAfter), its output and the conv3×3's live in scratch buffers.
void dense_block_forward(const BlockSpec &s, double eps, const float *x, const std::vector<float *> &p, float *out, float *stats, float *bnk) {
  const bool training = bnk != nullptr;
  const int64_t R = s.R, CT = s.ct();
  float *t2 = g_t2.get(R * s.bmax);
  float *t3 = g_t3.get(R * s.kmax);
  // training: per-channel batch statistics of the block's map; a channel's data never changes once written, so its
  // moments are computed once, when it is written, and read by every later layer's BN1
  std::vector<float> cmean(training ? CT : 0), cvar(training ? CT : 0);
  copy_rows(x, s.c0, out, CT, R, s.c0);
  if (training) moments_rows(out, CT, R, s.c0, cmean.data(), cvar.data());
  float *bk = bnk, *st = stats;
  for (int64_t l = 0; l < s.L; l++) {
    const int64_t C = s.c[l], B = s.b[l], K = s.k[l];
    float *m1 = st, *v1 = st + C, *m2 = st + 2 * C, *v2 = st + 2 * C + B;
    if (training) {
      std::memcpy(m1, cmean.data(), sizeof(float) * C);
      std::memcpy(v1, cvar.data(), sizeof(float) * C);
      bnrelu_conv1x1_fwd(out, CT, R, C, B, m1, v1, p[6 * l], p[6 * l + 1], eps, p[6 * l + 2], bk, m2, v2);
      bn_relu_rows(bk, B, R, B, m2, v2, p[6 * l + 3], p[6 * l + 4], eps, t2, B);
    } else {
      const BnReluAfter bn2{m2, v2, p[6 * l + 3], p[6 * l + 4], t2};
      bnrelu_conv1x1_fwd(out, CT, R, C, B, m1, v1, p[6 * l], p[6 * l + 1], eps, p[6 * l + 2], nullptr, nullptr, nullptr, &bn2);
    }
    conv_fwd_raw(conv_geom(s.n, s.h, s.w, B, K, 3), t2, p[6 * l + 5], nullptr, 0, 0.0f, t3);
    copy_rows(t3, K, out + C, CT, R, K);
    if (training) {
      moments_rows(t3, K, R, K, cmean.data() + C, cvar.data() + C);
      bk += R * B;
    }
    st += 2 * C + 2 * B;
  }
}

// denseBlockFwd(x, params[], out, bnk, stats, spec, eps): training
napi_value DenseBlockFwd(napi_env env, napi_callback_info info) {
  return guarded(env, info, 7, [&](std::vector<napi_value> &a) {
    BlockSpec s = spec_arg(env, a[5]);
    const double eps = numarg(env, a[6], "eps");
    dense_block_forward(s, eps, f32arg(env, a[0], s.R * s.c0, "x"), f32list(env, a[1], s, "params"), f32arg(env, a[2], s.R * s.ct(), "out"),
                        f32arg(env, a[4], s.stats_total, "stats"), f32arg(env, a[3], s.bnk_total, "bnk"));
    return undef(env);
  });
}

// denseBlockInfer(x, params[], out, moving, spec, eps): inference, moving in the layout of denseBlockFwd's stats
napi_value DenseBlockInfer(napi_env env, napi_callback_info info) {
  return guarded(env, info, 6, [&](std::vector<napi_value> &a) {
    BlockSpec s = spec_arg(env, a[4]);
    const double eps = numarg(env, a[5], "eps");
    dense_block_forward(s, eps, f32arg(env, a[0], s.R * s.c0, "x"), f32list(env, a[1], s, "params"), f32arg(env, a[2], s.R * s.ct(), "out"),
                        f32arg(env, a[3], s.stats_total, "moving"), nullptr);
    return undef(env);
  });
}

// denseBlockBwd(out, bnk, stats, params[], dy, dx, grads[], spec, eps): dx [R, c0]; grads like params.
napi_value DenseBlockBwd(napi_env env, napi_callback_info info) {
  return guarded(env, info, 9, [&](std::vector<napi_value> &a) {
    BlockSpec s = spec_arg(env, a[7]);
    const double eps = numarg(env, a[8], "eps");
    const int64_t R = s.R, CT = s.ct();
    const float *out = f32arg(env, a[0], R * CT, "out");
    const float *bnk = f32arg(env, a[1], s.bnk_total, "bnk");
    const float *stats = f32arg(env, a[2], s.stats_total, "stats");
    auto p = f32list(env, a[3], s, "params");
    const float *dy = f32arg(env, a[4], R * CT, "dy");
    float *dx = f32arg(env, a[5], R * s.c0, "dx");
    auto gr = f32list(env, a[6], s, "grads");
    float *g = g_grad.get(R * CT);
    float *t2 = g_t2.get(R * s.bmax);
    float *t3 = g_t3.get(R * s.kmax);
    float *d1 = g_d1.get(R * s.c[s.L - 1]);
    float *d2 = g_d2.get(R * s.bmax);
    copy_rows(dy, CT, g, CT, R, CT);
    std::vector<const float *> bks(s.L), sts(s.L);
    {
      const float *bk = bnk, *st = stats;
      for (int64_t l = 0; l < s.L; l++) {
        bks[l] = bk;
        sts[l] = st;
        bk += R * s.b[l];
        st += 2 * s.c[l] + 2 * s.b[l];
      }
    }
    for (int64_t l = s.L - 1; l >= 0; l--) {
      const int64_t C = s.c[l], B = s.b[l], K = s.k[l];
      const float *m1 = sts[l], *v1 = sts[l] + C, *m2 = sts[l] + 2 * C, *v2 = sts[l] + 2 * C + B;
      // the new channels' gradient, dense
      copy_rows(g + C, CT, t3, K, R, K);
      // conv3×3: recompute its input (BN2-ReLU of the kept bottleneck output)
      bn_relu_rows(bks[l], B, R, B, m2, v2, p[6 * l + 3], p[6 * l + 4], eps, t2, B);
      const ConvGeom g3 = conv_geom(s.n, s.h, s.w, B, K, 3);
      conv_bwd_w_raw(g3, t2, t3, gr[6 * l + 5]);
      conv_bwd_data_raw(g3, t3, p[6 * l + 5], d2);
      // BN2-ReLU backward: its sums here; its dx stage, in place into d2, inside the 1×1 chunks below
      const BnBwdCoefs k2 = bn_relu_bwd_sums(bks[l], B, R, B, m2, v2, p[6 * l + 3], p[6 * l + 4], eps, d2, gr[6 * l + 3], gr[6 * l + 4]);
      // conv1×1 and BN1-ReLU backward (its input recomputed chunk by chunk), added to the gradient of the first C channels
      conv1x1_bnrelu_bwd(out, CT, R, C, B, m1, v1, p[6 * l], p[6 * l + 1], eps, p[6 * l + 2], d2, gr[6 * l + 2], d1, g, gr[6 * l], gr[6 * l + 1], bks[l], m2,
                         p[6 * l + 3], p[6 * l + 4], k2);
    }
    copy_rows(g, CT, dx, s.c0, R, s.c0);
    return undef(env);
  });
}

// movingAverage(stats, olds[], news[], momentum): news[i] = olds[i] − (olds[i] − batch_i)·(1 − momentum), the batch
// values read from stats one after another (tf.layers' BatchNormalization update, float32 as tfjs computes it).
napi_value MovingAverage(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    uint32_t count, count2;
    NAPI_OK(napi_get_array_length(env, a[1], &count));
    NAPI_OK(napi_get_array_length(env, a[2], &count2));
    if (count != count2) throw JsError{"movingAverage: olds and news differ in length"};
    const float decay = static_cast<float>(1.0 - numarg(env, a[3], "momentum"));
    size_t total = 0;
    std::vector<std::pair<const float *, float *>> io;
    std::vector<size_t> lens;
    for (uint32_t i = 0; i < count; i++) {
      napi_value ov, nv;
      NAPI_OK(napi_get_element(env, a[1], i, &ov));
      NAPI_OK(napi_get_element(env, a[2], i, &nv));
      size_t len;
      napi_typedarray_type t;
      void *d;
      napi_value ab;
      size_t off;
      NAPI_OK(napi_get_typedarray_info(env, ov, &t, &len, &d, &ab, &off));
      io.push_back({f32arg(env, ov, len, "olds[i]"), f32arg(env, nv, len, "news[i]")});
      lens.push_back(len);
      total += len;
    }
    const float *st = f32arg(env, a[0], total, "stats");
    for (uint32_t i = 0; i < count; i++) {
      for (size_t k = 0; k < lens[i]; k++) {
        const float o = io[i].first[k];
        io[i].second[k] = o - (o - st[k]) * decay;
      }
      st += lens[i];
    }
    return undef(env);
  });
}

// sgemmPeak(n, reps): the best GFLOP/s of reps n×n×n sgemm calls through oneDNN (dnnl_sgemm) on the current threads,
// by wall-clock time ({ wall }) and by this process's CPU time ({ cpu }: what it gets when other load takes cores away).
napi_value SgemmPeak(napi_env env, napi_callback_info info) {
  return guarded(env, info, 2, [&](std::vector<napi_value> &a) {
    const int64_t n = static_cast<int64_t>(numarg(env, a[0], "n"));
    const int reps = static_cast<int>(numarg(env, a[1], "reps"));
    if (n < 16 || reps < 1) throw JsError{"sgemmPeak: n ≥ 16 and reps ≥ 1"};
    std::vector<float> A(n * n), B(n * n), C(n * n);
    for (int64_t i = 0; i < n * n; i++) {
      A[i] = static_cast<float>((i * 7 % 13) - 6) / 7.f;
      B[i] = static_cast<float>((i * 5 % 11) - 5) / 5.f;
    }
    auto proc_cpu = [] {
      timespec ts;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec * 1e-9;
    };
    double best = 0, best_cpu = 0;
    gemm_check(dnnl_sgemm('N', 'N', n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n));  // warm-up
    for (int r = 0; r < reps; r++) {
      const double t0 = omp_get_wtime(), c0 = proc_cpu();
      gemm_check(dnnl_sgemm('N', 'N', n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n));
      const double dt = omp_get_wtime() - t0, dc = proc_cpu() - c0;
      best = std::max(best, 2.0 * n * n * n / dt / 1e9);
      best_cpu = std::max(best_cpu, 2.0 * n * n * n / dc / 1e9);
    }
    napi_value o, v;
    NAPI_OK(napi_create_object(env, &o));
    NAPI_OK(napi_create_double(env, best, &v));
    NAPI_OK(napi_set_named_property(env, o, "wall", v));
    NAPI_OK(napi_create_double(env, best_cpu, &v));
    NAPI_OK(napi_set_named_property(env, o, "cpu", v));
    return o;
  });
}

// ---- a whole training step of a plain net (src/backend/native/plain-step.ts) ------------------------------
//
// The network of src/nn/model.ts — conv/fc → BatchNorm (batch statistics) → ReLU, max/avg pools, flatten, a dense
// classifier with bias — trained on softmax cross-entropy with Nesterov SGD and L2 weight decay on the kernels, one
// step per call: forward, loss, backward, optimizer, BatchNorm moving statistics. The same kernels and the same float
// arithmetic as the tfjs path through this addon's per-op kernels (conv_*_raw / conv1x1_*, moments_rows + bn_relu_rows,
// bn_relu_bwd_rows, the pooling gradients, sgdNesterov's update, movingAverage's update); what differs is only the
// summation order of the fc products (sgemm here, XNNPACK there), of the average pools and of the loss.
// The object owns the weights, momentum accumulators, moving statistics and every activation buffer, allocated once:
// a step allocates nothing. Handles are explicit (plainNetFree), so the buffers' lifetime never depends on the GC.

// One output pixel of a max pool: over the window rows [r0, r1) × cols [q0, q1) of image xb (row width w, c channels),
// the maximum of load(pixel, k) and the index (within the image) of its first occurrence in row-major order, NaN never
// winning — the rule max_pool_grad_raw recomputes (tfjs's cpu backend / TF); branch-free selects. Inlined into each
// caller's clone, so it is vectorised for the CPU's best instruction set.
template <typename Load>
inline void max_window(const float *__restrict xb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, float *__restrict o, int32_t *__restrict arg,
                       Load load) {
  for (int64_t k = 0; k < c; k++) {
    o[k] = -INFINITY;
    arg[k] = -1;
  }
  for (int64_t r = r0; r < r1; r++)
    for (int64_t q = q0; q < q1; q++) {
      const int32_t base = static_cast<int32_t>((r * w + q) * c);
      const float *__restrict xr = xb + base;
      for (int64_t k = 0; k < c; k++) {
        const float y = load(xr, k);
        const bool gt = y > o[k];
        o[k] = gt ? y : o[k];
        arg[k] = gt ? base + static_cast<int32_t>(k) : arg[k];
      }
    }
}

// The raw and the BN-ReLU window, each compiled for AVX-512, AVX2 and baseline (the OpenMP loops that call them are
// outlined functions, which target_clones does not reach: the clones must sit below them)
EAS_CLONES void max_window_raw(const float *__restrict xb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, float *__restrict o, int32_t *__restrict arg) {
  max_window(xb, w, c, r0, r1, q0, q1, o, arg, [](const float *__restrict xr, int64_t k) { return xr[k]; });
}
// relu(bn(z)) on the fly: bn_relu_range's expression, the same values
EAS_CLONES void max_window_bn_relu(const float *__restrict zb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, const float *__restrict mn,
                                   const float *__restrict mp, const float *__restrict ap, float *__restrict o, int32_t *__restrict arg) {
  max_window(zb, w, c, r0, r1, q0, q1, o, arg, [=](const float *__restrict zr, int64_t k) {
    const float v = (zr[k] - mn[k]) * mp[k] + ap[k];
    return v > 0.f ? v : 0.f;
  });
}

// Every output pixel of a pool with geometry p (images in parallel): window(image, w, c, r0, r1, q0, q1, at) computes
// output pixel `at` (its first channel's index in y) from the window's in-bounds rows [r0, r1) and cols [q0, q1) of
// the image (tfjs's 'same' rule: padding is never part of a window).
template <typename Window>
inline void pool_windows(const int64_t *p, const float *x, Window window) {
  const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], top = p[10], left = p[11];
#pragma omp parallel for schedule(static) if (n * h * w * c >= PAR_MIN)
  for (int64_t b = 0; b < n; b++) {
    for (int64_t i = 0; i < oh; i++) {
      const int64_t r0 = std::max<int64_t>(i * sh - top, 0), r1 = std::min<int64_t>(i * sh - top + kh, h);
      for (int64_t j = 0; j < ow; j++) {
        const int64_t q0 = std::max<int64_t>(j * sw - left, 0), q1 = std::min<int64_t>(j * sw - left + kw, w);
        window(x + b * h * w * c, w, c, r0, r1, q0, q1, ((b * oh + i) * ow + j) * c);
      }
    }
  }
}

// y = maxpool(x), arg = where each maximum is (per image)
void max_pool_fwd_raw(const int64_t *p, const float *x, float *y, int32_t *arg) {
  PROF(11);
  pool_windows(p, x, [=](const float *xb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, int64_t at) {
    max_window_raw(xb, w, c, r0, r1, q0, q1, y + at, arg + at);
  });
}

// y = maxpool(relu(bn(z))) with the batch statistics mean/var (bn_relu_rows's coefficients), so that a BN-ReLU followed
// by a max pool never writes (nor reads back) its full-size output; arg as max_pool_fwd_raw's
void bn_relu_max_pool(const int64_t *p, const float *z, const float *mean, const float *var, const float *gamma, const float *beta, double eps, float *y, int32_t *arg) {
  PROF(11);
  const std::vector<float> mul = bn_scale(gamma, var, eps, p[3]);
  const float *mn = mean, *mp = mul.data(), *ap = beta;
  pool_windows(p, z, [=](const float *zb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, int64_t at) {
    max_window_bn_relu(zb, w, c, r0, r1, q0, q1, mn, mp, ap, y + at, arg + at);
  });
}

// The max pool's gradient from the forward pass's arg: dx[arg] += dy, in max_pool_grad_raw's order (the same sums).
void max_pool_grad_arg(const int64_t *p, const float *dy, const int32_t *arg, float *dx) {
  PROF(12);
  const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5];
  const int64_t per = oh * ow * c;
#pragma omp parallel for schedule(static) if (n * h * w * c >= PAR_MIN)
  for (int64_t b = 0; b < n; b++) {
    float *dxb = dx + b * h * w * c;
    std::memset(dxb, 0, sizeof(float) * h * w * c);
    const float *g = dy + b * per;
    const int32_t *a = arg + b * per;
    for (int64_t i = 0; i < per; i++)
      if (a[i] >= 0) dxb[a[i]] += g[i];
  }
}

// y = the mean of the window's in-bounds pixels (padding excluded from the count, as tfjs's backends do)
void avg_pool_fwd_raw(const int64_t *p, const float *x, float *y) {
  PROF(11);
  pool_windows(p, x, [=](const float *xb, int64_t w, int64_t c, int64_t r0, int64_t r1, int64_t q0, int64_t q1, int64_t at) {
    float *__restrict o = y + at;
    for (int64_t k = 0; k < c; k++) o[k] = 0.f;
    for (int64_t r = r0; r < r1; r++)
      for (int64_t q = q0; q < q1; q++) {
        const float *__restrict xr = xb + (r * w + q) * c;
        for (int64_t k = 0; k < c; k++) o[k] += xr[k];
      }
    const float inv = 1.f / static_cast<float>((r1 - r0) * (q1 - q0));
    for (int64_t k = 0; k < c; k++) o[k] *= inv;
  });
}

// tfjs's MomentumOptimizer (Nesterov) on g + wd·v where decay, in place, the arithmetic of sgdNesterov above
void sgd_nesterov_inplace(float *v, const float *g, float *m, int64_t len, float lr, float mu, float wd, bool decay) {
  decay = decay && wd != 0.f;
  for (int64_t k = 0; k < len; k++) {
    const float gk = decay ? g[k] + wd * v[k] : g[k];
    const float mk = m[k] * mu + gk;
    m[k] = mk;
    v[k] = v[k] - lr * (gk + mk * mu);
  }
}

// movingAverage's update: o ← o − (o − batch)·(1 − momentum)
void moving_update(float *o, const float *batch, int64_t len, double momentum) {
  const float decay = static_cast<float>(1.0 - momentum);
  for (int64_t k = 0; k < len; k++) o[k] = o[k] - (o[k] - batch[k]) * decay;
}

// spec: n, h, w, c, classes, L, then per layer PLAIN_REC ints: kind (0 conv, 1 fc, 2 max pool, 3 avg pool), then the
// conv geometry (17, CONV_PARAMS), the pool geometry (12, POOL_PARAMS) or the fc's units (1), zero-padded.
// bn: per conv/fc layer eps, momentum (Float64Array).
constexpr int64_t PLAIN_REC = 18;

struct PlainLayer {
  int kind = 0;
  std::vector<int64_t> geom;
  int64_t rows = 0, cols = 0;  // the output as [rows, cols] (conv: n·oh·ow × cout; fc: n × units; pool: n·oh·ow × c)
  int64_t fan_in = 0;          // fc: inputs per image
  int64_t wsize = 0;
  double eps = 0, momentum = 0;
  float *z = nullptr, *y = nullptr, *st = nullptr;
  int32_t *arg = nullptr;  // max pool: where each output's maximum is
  bool fused_pool = false;  // conv: BN-ReLU and the next layer's max pool in one pass (y unused)
  float *w = nullptr, *gamma = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
  float *dw = nullptr, *dgamma = nullptr, *dbeta = nullptr;
  float *mw = nullptr, *mgamma = nullptr, *mbeta = nullptr;
};

struct PlainNet {
  int64_t n = 0, in_size = 0, classes = 0, feat = 0;
  std::vector<PlainLayer> layers;
  float *wc = nullptr, *bc = nullptr, *dwc = nullptr, *dbc = nullptr, *mwc = nullptr, *mbc = nullptr, *logits = nullptr, *dlogits = nullptr;
  float *ga = nullptr, *gb = nullptr;
  std::vector<std::unique_ptr<OwnedBuffer>> owned;
  float *alloc(int64_t count) {
    owned.push_back(std::make_unique<OwnedBuffer>(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float)));
    return owned.back()->data.data();
  }
  // parameters in the order of plainNetSetParams: per conv/fc layer kernel, gamma, beta, moving mean, moving variance;
  // then the classifier's kernel and bias. Momentum accumulators: per conv/fc layer kernel, gamma, beta; then the classifier's.
  std::vector<std::pair<float *, int64_t>> params() const {
    std::vector<std::pair<float *, int64_t>> out;
    for (const PlainLayer &l : layers)
      if (l.kind <= 1) {
        out.push_back({l.w, l.wsize});
        for (float *p : {l.gamma, l.beta, l.mean, l.var}) out.push_back({p, l.cols});
      }
    out.push_back({wc, feat * classes});
    out.push_back({bc, classes});
    return out;
  }
  std::vector<std::pair<float *, int64_t>> moms() const {
    std::vector<std::pair<float *, int64_t>> out;
    for (const PlainLayer &l : layers)
      if (l.kind <= 1) {
        out.push_back({l.mw, l.wsize});
        out.push_back({l.mgamma, l.cols});
        out.push_back({l.mbeta, l.cols});
      }
    out.push_back({mwc, feat * classes});
    out.push_back({mbc, classes});
    return out;
  }
};

std::unordered_map<int64_t, std::unique_ptr<PlainNet>> g_plain;
int64_t g_plain_next = 1;

PlainNet &plain_arg(napi_env env, napi_value v) {
  const int64_t id = static_cast<int64_t>(numarg(env, v, "handle"));
  auto it = g_plain.find(id);
  if (it == g_plain.end()) throw JsError{"plain net handle " + std::to_string(id) + " is not live (freed, or never created)"};
  return *it->second;
}

const double *f64arg(napi_env env, napi_value v, size_t len, const char *what) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *data = nullptr;
  napi_value ab;
  size_t offset;
  if (is_ta) NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset));
  if (!is_ta || type != napi_float64_array || length != len) throw JsError{std::string(what) + ": expected a Float64Array of " + std::to_string(len)};
  return static_cast<const double *>(data);
}

// plainNetCreate(spec: Int32Array, bn: Float64Array) → handle
napi_value PlainNetCreate(napi_env env, napi_callback_info info) {
  return guarded(env, info, 2, [&](std::vector<napi_value> &a) {
    bool is_ta = false;
    NAPI_OK(napi_is_typedarray(env, a[0], &is_ta));
    if (!is_ta) throw JsError{"plainNetCreate: spec: expected an Int32Array"};
    napi_typedarray_type type;
    size_t len;
    void *data;
    napi_value ab;
    size_t off;
    NAPI_OK(napi_get_typedarray_info(env, a[0], &type, &len, &data, &ab, &off));
    if (type != napi_int32_array || len < 6) throw JsError{"plainNetCreate: spec: expected an Int32Array of n, h, w, c, classes, L, then the layers"};
    const int32_t *sp = static_cast<const int32_t *>(data);
    const int64_t n = sp[0], L = sp[5];
    int64_t h = sp[1], w = sp[2], c = sp[3];
    if (n < 1 || h < 1 || w < 1 || c < 1 || sp[4] < 1 || L < 0 || len != static_cast<size_t>(6 + L * PLAIN_REC))
      throw JsError{"plainNetCreate: spec: sizes must be ≥ 1 and the length 6 + 18·L"};
    int64_t bnCount = 0;
    for (int64_t l = 0; l < L; l++) bnCount += sp[6 + l * PLAIN_REC] <= 1 ? 1 : 0;
    const double *bn = f64arg(env, a[1], static_cast<size_t>(2 * bnCount), "plainNetCreate: bn");
    auto net = std::make_unique<PlainNet>();
    net->n = n;
    net->classes = sp[4];
    net->in_size = h * w * c;
    int64_t flat = -1;  // after an fc: units per image
    int64_t maxAct = h * w * c * n;
    int64_t bi = 0;
    for (int64_t l = 0; l < L; l++) {
      const int32_t *r = sp + 6 + l * PLAIN_REC;
      PlainLayer pl;
      pl.kind = r[0];
      const std::string where = "plainNetCreate: layer " + std::to_string(l) + ": ";
      if (pl.kind == 0) {
        pl.geom.assign(r + 1, r + 1 + CONV_PARAMS);
        ConvGeom g(pl.geom);
        if (flat >= 0 || g.n != n || g.h != h || g.w != w || g.cin != c) throw JsError{where + "conv geometry does not match its input"};
        h = g.oh;
        w = g.ow;
        c = g.cout;
        pl.rows = n * h * w;
        pl.cols = c;
        pl.wsize = g.kh * g.kw * g.cin * g.cout;
      } else if (pl.kind == 1) {
        pl.fan_in = flat >= 0 ? flat : h * w * c;
        pl.rows = n;
        pl.cols = r[1];
        if (pl.cols < 1) throw JsError{where + "fc units must be ≥ 1"};
        pl.wsize = pl.fan_in * pl.cols;
        flat = pl.cols;
      } else if (pl.kind == 2 || pl.kind == 3) {
        pl.geom.assign(r + 1, r + 1 + POOL_PARAMS);
        const int64_t *p = pl.geom.data();
        if (flat >= 0 || p[0] != n || p[1] != h || p[2] != w || p[3] != c || p[4] < 1 || p[5] < 1 || p[6] < 1 || p[7] < 1 || p[8] < 1 || p[9] < 1)
          throw JsError{where + "pool geometry does not match its input"};
        h = p[4];
        w = p[5];
        pl.rows = n * h * w;
        pl.cols = c;
      } else {
        throw JsError{where + "unknown kind " + std::to_string(pl.kind)};
      }
      maxAct = std::max(maxAct, pl.rows * pl.cols);
      // a conv followed by a max pool goes straight into the pool (bn_relu_max_pool): no full-size output
      pl.fused_pool = pl.kind == 0 && l + 1 < L && sp[6 + (l + 1) * PLAIN_REC] == 2;
      if (!pl.fused_pool) pl.y = net->alloc(pl.rows * pl.cols);
      if (pl.kind == 2) pl.arg = reinterpret_cast<int32_t *>(net->alloc(pl.rows * pl.cols));
      if (pl.kind <= 1) {
        pl.eps = bn[2 * bi];
        pl.momentum = bn[2 * bi + 1];
        bi++;
        pl.z = net->alloc(pl.rows * pl.cols);
        pl.st = net->alloc(2 * pl.cols);
        pl.w = net->alloc(pl.wsize);
        pl.dw = net->alloc(pl.wsize);
        pl.mw = net->alloc(pl.wsize);
        pl.gamma = net->alloc(pl.cols);
        pl.beta = net->alloc(pl.cols);
        pl.mean = net->alloc(pl.cols);
        pl.var = net->alloc(pl.cols);
        pl.dgamma = net->alloc(pl.cols);
        pl.dbeta = net->alloc(pl.cols);
        pl.mgamma = net->alloc(pl.cols);
        pl.mbeta = net->alloc(pl.cols);
      }
      net->layers.push_back(std::move(pl));
    }
    net->feat = flat >= 0 ? flat : h * w * c;
    const int64_t K = net->classes, F = net->feat;
    net->wc = net->alloc(F * K);
    net->dwc = net->alloc(F * K);
    net->mwc = net->alloc(F * K);
    net->bc = net->alloc(K);
    net->dbc = net->alloc(K);
    net->mbc = net->alloc(K);
    net->logits = net->alloc(n * K);
    net->dlogits = net->alloc(n * K);
    net->ga = net->alloc(maxAct);
    net->gb = net->alloc(maxAct);
    const int64_t id = g_plain_next++;
    g_plain[id] = std::move(net);
    napi_value v;
    NAPI_OK(napi_create_int64(env, id, &v));
    return v;
  });
}

// plainNetParams(handle, params: Float32Array[], moms: Float32Array[], write: boolean): copies them in (write true)
// or out, in PlainNet::params() / moms() order; each array's length must be the parameter's size.
napi_value PlainNetParams(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    PlainNet &net = plain_arg(env, a[0]);
    bool write = false;
    NAPI_OK(napi_get_value_bool(env, a[3], &write));
    for (int list = 0; list < 2; list++) {
      const auto ps = list == 0 ? net.params() : net.moms();
      uint32_t count;
      NAPI_OK(napi_get_array_length(env, a[1 + list], &count));
      if (count != ps.size()) throw JsError{std::string("plainNetParams: ") + (list == 0 ? "params" : "moms") + ": expected " + std::to_string(ps.size()) + " arrays, got " + std::to_string(count)};
      for (uint32_t i = 0; i < count; i++) {
        napi_value e;
        NAPI_OK(napi_get_element(env, a[1 + list], i, &e));
        size_t len;
        napi_typedarray_type t;
        void *d;
        napi_value ab;
        size_t off;
        bool is_ta = false;
        NAPI_OK(napi_is_typedarray(env, e, &is_ta));
        if (is_ta) NAPI_OK(napi_get_typedarray_info(env, e, &t, &len, &d, &ab, &off));
        const std::string what = std::string("plainNetParams: ") + (list == 0 ? "params[" : "moms[") + std::to_string(i) + "]";
        if (!is_ta || t != napi_float32_array || static_cast<int64_t>(len) != ps[i].second) throw JsError{what + ": expected a Float32Array of " + std::to_string(ps[i].second)};
        float *js = static_cast<float *>(d);
        if (write)
          std::memcpy(ps[i].first, js, len * sizeof(float));
        else
          std::memcpy(js, ps[i].first, len * sizeof(float));
      }
    }
    return undef(env);
  });
}

// plainNetStep(handle, x: Float32Array [n·h·w·c], labels: Int32Array [n], lr, momentum, weightDecay, out: Float64Array
// [2]): one training step; out = [mean softmax cross-entropy, correct predictions].
napi_value PlainNetStep(napi_env env, napi_callback_info info) {
  return guarded(env, info, 7, [&](std::vector<napi_value> &a) {
    PlainNet &net = plain_arg(env, a[0]);
    const int64_t n = net.n, K = net.classes, F = net.feat;
    const float *x = f32arg(env, a[1], n * net.in_size, "plainNetStep: x");
    bool is_ta = false;
    NAPI_OK(napi_is_typedarray(env, a[2], &is_ta));
    napi_typedarray_type type = napi_int8_array;
    size_t len = 0;
    void *data = nullptr;
    napi_value ab;
    size_t off;
    if (is_ta) NAPI_OK(napi_get_typedarray_info(env, a[2], &type, &len, &data, &ab, &off));
    if (!is_ta || type != napi_int32_array || static_cast<int64_t>(len) != n) throw JsError{"plainNetStep: labels: expected an Int32Array of " + std::to_string(n)};
    const int32_t *labels = static_cast<const int32_t *>(data);
    for (int64_t i = 0; i < n; i++)
      if (labels[i] < 0 || labels[i] >= K) throw JsError{"plainNetStep: labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) + " is outside 0.." + std::to_string(K - 1)};
    const float lr = static_cast<float>(numarg(env, a[3], "lr"));
    const float mu = static_cast<float>(numarg(env, a[4], "momentum"));
    const float wd = static_cast<float>(numarg(env, a[5], "weightDecay"));
    double *out = const_cast<double *>(f64arg(env, a[6], 2, "plainNetStep: out"));

    // forward
    const float *h = x;
    for (size_t li = 0; li < net.layers.size(); li++) {
      PlainLayer &l = net.layers[li];
      if (l.kind == 0) {
        ConvGeom g(l.geom);
        if (is_plain_1x1(g))
          conv1x1_fwd(g.n * g.h * g.w, g.cin, g.cout, h, l.w, l.z);
        else
          conv_fwd_raw(g, h, l.w, nullptr, 0, 0.2f, l.z);
      } else if (l.kind == 1) {
        PROF(13);
        gemm_check(dnnl_sgemm('N', 'N', n, l.cols, l.fan_in, 1.f, h, l.fan_in, l.w, l.cols, 0.f, l.z, l.cols));
      } else {
        if (l.kind == 2)
          max_pool_fwd_raw(l.geom.data(), h, l.y, l.arg);
        else
          avg_pool_fwd_raw(l.geom.data(), h, l.y);
        h = l.y;
        continue;
      }
      moments_rows(l.z, l.cols, l.rows, l.cols, l.st, l.st + l.cols);
      moving_update(l.mean, l.st, l.cols, l.momentum);
      moving_update(l.var, l.st + l.cols, l.cols, l.momentum);
      if (l.fused_pool) {
        PlainLayer &pool = net.layers[++li];
        bn_relu_max_pool(pool.geom.data(), l.z, l.st, l.st + l.cols, l.gamma, l.beta, l.eps, pool.y, pool.arg);
        h = pool.y;
        continue;
      }
      bn_relu_rows(l.z, l.cols, l.rows, l.cols, l.st, l.st + l.cols, l.gamma, l.beta, l.eps, l.y, l.cols);
      h = l.y;
    }
    const double t_cls = g_profile ? thread_cpu() : 0;
    gemm_check(dnnl_sgemm('N', 'N', n, K, F, 1.f, h, F, net.wc, K, 0.f, net.logits, K));
    // + bias; softmax cross-entropy (tfjs: lse = log Σ exp(l − max) + max; loss = mean(lse − l_y); dlogits = (exp(l − lse) − y)/n)
    double loss = 0;
    int64_t correct = 0;
    const float invN = 1.f / static_cast<float>(n);
    for (int64_t i = 0; i < n; i++) {
      float *l = net.logits + i * K;
      float *d = net.dlogits + i * K;
      for (int64_t j = 0; j < K; j++) l[j] = l[j] + net.bc[j];
      float m = l[0];
      int64_t arg = 0;
      for (int64_t j = 1; j < K; j++)
        if (l[j] > m) {
          m = l[j];
          arg = j;
        }
      float s = 0.f;
      for (int64_t j = 0; j < K; j++) s += std::exp(l[j] - m);
      const float lse = std::log(s) + m;
      loss += static_cast<double>(lse - l[labels[i]]);
      if (arg == labels[i]) correct++;
      for (int64_t j = 0; j < K; j++) d[j] = invN * (std::exp(l[j] - lse) - (j == labels[i] ? 1.f : 0.f));
    }
    // backward: the classifier
    gemm_check(dnnl_sgemm('T', 'N', F, K, n, 1.f, h, F, net.dlogits, K, 0.f, net.dwc, K));
    for (int64_t j = 0; j < K; j++) {
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += net.dlogits[i * K + j];
      net.dbc[j] = static_cast<float>(s);
    }
    float *g = net.ga;
    const int64_t Lc = static_cast<int64_t>(net.layers.size());
    if (Lc > 0) gemm_check(dnnl_sgemm('N', 'T', n, F, K, 1.f, net.dlogits, K, net.wc, K, 0.f, g, F));
    if (g_profile) g_prof[13] += thread_cpu() - t_cls;
    for (int64_t li = Lc - 1; li >= 0; li--) {
      PlainLayer &l = net.layers[li];
      const float *hin = li == 0 ? x : net.layers[li - 1].y;
      float *gprev = g == net.ga ? net.gb : net.ga;
      if (l.kind >= 2) {
        if (li == 0) break;
        if (l.kind == 2)
          max_pool_grad_arg(l.geom.data(), g, l.arg, gprev);
        else
          avg_pool_grad_raw(l.geom.data(), g, gprev);
        g = gprev;
        continue;
      }
      bn_relu_bwd_rows(l.z, l.cols, l.rows, l.cols, l.st, l.st + l.cols, l.gamma, l.beta, l.eps, g, g, l.cols, false, l.dgamma, l.dbeta);
      if (l.kind == 0) {
        ConvGeom cg(l.geom);
        const bool p1 = is_plain_1x1(cg);
        if (p1)
          conv1x1_bwd_w(cg.n * cg.h * cg.w, cg.cin, cg.cout, hin, g, l.dw);
        else
          conv_bwd_w_raw(cg, hin, g, l.dw);
        if (li > 0) {
          if (p1)
            conv1x1_bwd_data(cg.n * cg.h * cg.w, cg.cin, cg.cout, g, l.w, gprev);
          else
            conv_bwd_data_raw(cg, g, l.w, gprev);
        }
      } else {
        PROF(13);
        gemm_check(dnnl_sgemm('T', 'N', l.fan_in, l.cols, n, 1.f, hin, l.fan_in, g, l.cols, 0.f, l.dw, l.cols));
        if (li > 0) gemm_check(dnnl_sgemm('N', 'T', n, l.fan_in, l.cols, 1.f, g, l.cols, l.w, l.cols, 0.f, gprev, l.fan_in));
      }
      g = gprev;
    }
    // the optimizer (L2 decay on the kernels only)
    PROF(14);
    for (PlainLayer &l : net.layers) {
      if (l.kind > 1) continue;
      sgd_nesterov_inplace(l.w, l.dw, l.mw, l.wsize, lr, mu, wd, true);
      sgd_nesterov_inplace(l.gamma, l.dgamma, l.mgamma, l.cols, lr, mu, wd, false);
      sgd_nesterov_inplace(l.beta, l.dbeta, l.mbeta, l.cols, lr, mu, wd, false);
    }
    sgd_nesterov_inplace(net.wc, net.dwc, net.mwc, F * K, lr, mu, wd, true);
    sgd_nesterov_inplace(net.bc, net.dbc, net.mbc, K, lr, mu, wd, false);
    out[0] = loss / static_cast<double>(n);
    out[1] = static_cast<double>(correct);
    return undef(env);
  });
}

// plainNetFree(handle): releases the net's buffers (an unknown handle is an error).
napi_value PlainNetFree(napi_env env, napi_callback_info info) {
  return guarded(env, info, 1, [&](std::vector<napi_value> &a) {
    plain_arg(env, a[0]);
    g_plain.erase(static_cast<int64_t>(numarg(env, a[0], "handle")));
    return undef(env);
  });
}

// ---- misc -------------------------------------------------------------------------------------------------

// Net2Wider's remapping of one weight array (src/transform/wider.ts, remapMiddleAxis): src viewed as [outer, mid,
// inner] → out [outer, map.length, inner], new middle index j taking old index map[j], times scale[j] when given. Pure
// copies and one multiply per value, the same float product the JS path stores; rows are contiguous, so memcpy. One
// thread: a control process shares the cores with the others and with training.
napi_value RemapMiddle(napi_env env, napi_callback_info info) {
  return guarded(env, info, 7, [&](std::vector<napi_value> &a) {
    const int64_t outer = static_cast<int64_t>(numarg(env, a[2], "outer"));
    const int64_t mid = static_cast<int64_t>(numarg(env, a[3], "mid"));
    const int64_t inner = static_cast<int64_t>(numarg(env, a[4], "inner"));
    if (outer < 0 || mid < 1 || inner < 1) throw JsError{"remapMiddle: outer ≥ 0, mid ≥ 1 and inner ≥ 1 are required"};
    bool is_ta = false;
    NAPI_OK(napi_is_typedarray(env, a[5], &is_ta));
    if (!is_ta) throw JsError{"remapMiddle: map: expected an Int32Array"};
    napi_typedarray_type type;
    size_t newMid;
    void *mapData;
    napi_value ab;
    size_t offset;
    NAPI_OK(napi_get_typedarray_info(env, a[5], &type, &newMid, &mapData, &ab, &offset));
    if (type != napi_int32_array) throw JsError{"remapMiddle: map: expected an Int32Array"};
    const int32_t *map = static_cast<const int32_t *>(mapData);
    for (size_t j = 0; j < newMid; j++)
      if (map[j] < 0 || map[j] >= mid) throw JsError{"remapMiddle: map[" + std::to_string(j) + "] = " + std::to_string(map[j]) + " is outside 0.." + std::to_string(mid - 1)};
    const float *src = f32arg(env, a[0], static_cast<size_t>(outer * mid * inner), "src");
    float *out = f32arg(env, a[1], static_cast<size_t>(outer) * newMid * inner, "out");
    const float *scale = is_null(env, a[6]) ? nullptr : f32arg(env, a[6], newMid, "scale");
    const int64_t nm = static_cast<int64_t>(newMid);
    for (int64_t o = 0; o < outer; o++) {
      const float *s = src + o * mid * inner;
      float *d = out + o * nm * inner;
      if (inner == 1) {
        if (scale)
          for (int64_t j = 0; j < nm; j++) d[j] = s[map[j]] * scale[j];
        else
          for (int64_t j = 0; j < nm; j++) d[j] = s[map[j]];
        continue;
      }
      for (int64_t j = 0; j < nm; j++) {
        const float *row = s + map[j] * inner;
        float *to = d + j * inner;
        if (scale && scale[j] != 1.0f) {
          const float f = scale[j];
          for (int64_t k = 0; k < inner; k++) to[k] = row[k] * f;
        } else {
          std::memcpy(to, row, static_cast<size_t>(inner) * sizeof(float));
        }
      }
    }
    return undef(env);
  });
}

napi_value Profile(napi_env env, napi_callback_info info) {
  return guarded(env, info, 0, [&](std::vector<napi_value> &) {
    napi_value o, v;
    NAPI_OK(napi_create_object(env, &o));
    for (int i = 0; i < PROF_N; i++) {
      NAPI_OK(napi_create_double(env, g_prof[i] * 1000, &v));
      NAPI_OK(napi_set_named_property(env, o, PROF_NAMES[i], v));
      g_prof[i] = 0;
    }
    return o;
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, info, 1, [&](std::vector<napi_value> &a) {
    int n = static_cast<int>(numarg(env, a[0], "threads"));
    if (n < 1) throw JsError{"threads must be ≥ 1"};
    omp_set_num_threads(n);
    return undef(env);
  });
}

napi_value Info(napi_env env, napi_callback_info info) {
  return guarded(env, info, 0, [&](std::vector<napi_value> &) {
    napi_value o, v;
    NAPI_OK(napi_create_object(env, &o));
    NAPI_OK(napi_create_int32(env, omp_get_max_threads(), &v));
    NAPI_OK(napi_set_named_property(env, o, "threads", v));
    NAPI_OK(napi_create_int64(env, g_live_buffers, &v));
    NAPI_OK(napi_set_named_property(env, o, "liveBuffers", v));
    NAPI_OK(napi_create_int64(env, g_live_bytes, &v));
    NAPI_OK(napi_set_named_property(env, o, "liveBytes", v));
    NAPI_OK(napi_create_int64(env, static_cast<int64_t>(g_fwd.size() + g_bwd_data.size() + g_bwd_w.size()), &v));
    NAPI_OK(napi_set_named_property(env, o, "cachedPrimitives", v));
    const dnnl_version_t *ver = dnnl_version();
    std::string s = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
    NAPI_OK(napi_create_string_utf8(env, s.c_str(), s.size(), &v));
    NAPI_OK(napi_set_named_property(env, o, "onednn", v));
    return o;
  });
}

napi_value ClearCache(napi_env env, napi_callback_info info) {
  return guarded(env, info, 0, [&](std::vector<napi_value> &) {
    g_fwd.clear();
    g_bwd_data.clear();
    g_bwd_w.clear();
    for (Scratch *sc : {&g_t2, &g_t3, &g_d1, &g_d2, &g_grad, &g_chunk, &g_dwpart}) sc->release();
    return undef(env);
  });
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2D, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2DBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2DBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"avgPoolGrad", nullptr, AvgPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binaryChannel", nullptr, BinaryChannel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binaryFlat", nullptr, BinaryFlat, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"columnSums", nullptr, ColumnSums, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"moments", nullptr, Moments, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"momentsGrad", nullptr, MomentsGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNorm", nullptr, BatchNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgdNesterov", nullptr, SgdNesterov, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluFwd", nullptr, BnReluFwd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluBwd", nullptr, BnReluBwd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"denseBlockFwd", nullptr, DenseBlockFwd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"denseBlockInfer", nullptr, DenseBlockInfer, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"denseBlockBwd", nullptr, DenseBlockBwd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"movingAverage", nullptr, MovingAverage, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"plainNetCreate", nullptr, PlainNetCreate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"plainNetParams", nullptr, PlainNetParams, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"plainNetStep", nullptr, PlainNetStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"plainNetFree", nullptr, PlainNetFree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgemmPeak", nullptr, SgemmPeak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"remapMiddle", nullptr, RemapMiddle, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"profile", nullptr, Profile, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clearCache", nullptr, ClearCache, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
