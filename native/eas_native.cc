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

template <typename F>
napi_value guarded(napi_env env, napi_callback_info info, size_t nargs, F f) {
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
    std::string key = g.key() + (has_bias ? "b" : "") + std::to_string(act) + ":" + std::to_string(alpha);
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
    memory wu(g.wei_user(), eng(), wt);
    memory wm = wu;
    if (c.reorder_w) {
      wm = memory(c.pd.weights_desc(), eng(), c.wbuf->data.data());
      c.w_reorder.execute(strm(), wu, wm);
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(g.src(), eng(), x)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, memory(g.dst(), eng(), y)}};
    if (has_bias) args.insert({DNNL_ARG_BIAS, memory(memory::desc({g.cout}, dt::f32, tag::a), eng(), b)});
    c.prim.execute(strm(), args);
    strm().wait();
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
    auto &slot = g_bwd_data[g.key()];
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
    memory wu(g.wei_user(), eng(), wt);
    memory wm = wu;
    if (c.reorder_w) {
      wm = memory(c.pd.weights_desc(), eng(), c.wbuf->data.data());
      c.w_reorder.execute(strm(), wu, wm);
    }
    c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), dy)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, memory(g.src(), eng(), dx)}});
    strm().wait();
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
    auto &slot = g_bwd_w[g.key()];
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
    c.prim.execute(strm(), {{DNNL_ARG_SRC, memory(g.src(), eng(), x)}, {DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), dy)}, {DNNL_ARG_DIFF_WEIGHTS, wm}});
    if (c.reorder_w) c.w_reorder.execute(strm(), wm, wu);
    strm().wait();
    return undef(env);
  });
}

// ---- pooling gradients (plain loops; tfjs's rules) -------------------------------------------------------

// Pool geometry: n, h, w, c, oh, ow, kh, kw, sh, sw, padTop, padLeft
constexpr size_t POOL_PARAMS = 12;

// Gradient to the FIRST maximum of each window in row-major order, padding excluded (cpu backend / TF rule).
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 4, [&](std::vector<napi_value> &a) {
    auto p = intsarg(env, a[3], POOL_PARAMS, "params");
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], top = p[10], left = p[11];
    const float *dy = f32arg(env, a[0], n * oh * ow * c, "dy");
    const float *x = f32arg(env, a[1], n * h * w * c, "x");
    float *dx = f32arg(env, a[2], n * h * w * c, "dx");
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
    return undef(env);
  });
}

// dx = Σ over windows containing the pixel of dy / (kh·kw): the cpu backend's AvgPoolGrad (the divisor is the
// full window, padding included, unlike its forward pass; we keep the backends identical).
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, 3, [&](std::vector<napi_value> &a) {
    auto p = intsarg(env, a[2], POOL_PARAMS, "params");
    const int64_t n = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], top = p[10], left = p[11];
    const float *dy = f32arg(env, a[0], n * oh * ow * c, "dy");
    float *dx = f32arg(env, a[1], n * h * w * c, "dx");
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
    std::vector<double> part(static_cast<size_t>(nt) * cols, 0.0);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t lo = rows * t / T, hi = rows * (t + 1) / T;
      double *__restrict acc = part.data() + static_cast<size_t>(t) * cols;
      for (int64_t r = lo; r < hi; r++) {
        const float *__restrict xr = x + r * cols;
        for (int64_t k = 0; k < cols; k++) acc[k] += xr[k];
      }
    }
    for (int64_t k = 0; k < cols; k++) {
      double sum = 0;
      for (int t = 0; t < nt; t++) sum += part[static_cast<size_t>(t) * cols + k];
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
    std::vector<double> part(static_cast<size_t>(nt) * cols);
    std::vector<double> mean(cols);
    for (int pass = 0; pass < 2; pass++) {
      std::fill(part.begin(), part.end(), 0.0);
      const double *__restrict mp = mean.data();
#pragma omp parallel num_threads(nt)
      {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t lo = rows * t / T, hi = rows * (t + 1) / T;
        double *__restrict acc = part.data() + static_cast<size_t>(t) * cols;
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
        for (int t = 0; t < nt; t++) sum += part[static_cast<size_t>(t) * cols + k];
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
      {"remapMiddle", nullptr, RemapMiddle, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clearCache", nullptr, ClearCache, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
