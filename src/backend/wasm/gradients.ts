/**
 * Gradient replacements that pay on the wasm backend.
 *
 * tfjs gradients are registered per kernel name, for all backends at once. Each replacement here checks
 * the active backend and delegates to the stock gradient (captured before replacement) unless it is
 * 'wasm', so other backends are untouched.
 *
 * FusedBatchNorm: the stock gradient tiles 1/sqrt(var+eps) to the full activation shape and runs about a
 * dozen full-size elementwise ops. With s = scale, r = 1/sqrt(var+eps), Σ over the reduced axes:
 *   d offset   = Σ dy
 *   d scale    = r · Σ dy·(x-mean)
 *   d mean     = -r·s · Σ dy
 *   d variance = -½ r³ s · Σ dy·(x-mean)
 *   d x        = dy · (r·s)            (broadcast over channels, no Tile)
 * i.e. four full-size ops (sub, mul, mul and two reductions) instead of ~12 plus a Tile.
 */
import * as tf from '@tensorflow/tfjs';

type Tensor = tf.Tensor;

function fastFusedBatchNormGrad(dy: Tensor, saved: Tensor[], attrs: tf.NamedAttrMap): Record<string, () => Tensor> {
  const varianceEpsilon = attrs.varianceEpsilon as number;
  const [x, mean, variance, scale] = saved;
  const perChannel = mean.rank === 1;
  // the reduction axes: all but the last for per-channel statistics, else wherever mean was broadcast
  const axes = perChannel ? [...Array(x.rank - 1).keys()] : tf.backend_util.getReductionAxes(mean.shape, x.shape);
  const r = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
  const s = scale ?? tf.scalar(1);
  const rs = tf.mul(r, s);
  const reduce = (t: Tensor) => (perChannel || axes.length ? tf.reshape(tf.sum(t, axes), mean.shape) : t);
  // Σ dy and Σ dy·(x-mean) are each used by two derivatives. The engine runs every derivative thunk in its
  // own tidy, so they are computed here (their memory lives until the backward pass ends: [C] each) and
  // every thunk returns a fresh tensor.
  const [sumDy, sumDyXmu] = tf.tidy(() => [reduce(dy), reduce(tf.mul(dy, tf.sub(x, mean)))]);
  return {
    x: () => tf.mul(dy, rs),
    mean: () => tf.mul(tf.neg(rs), sumDy),
    variance: () => tf.mul(tf.mul(tf.mul(tf.mul(r, r), rs), tf.scalar(-0.5)), sumDyXmu),
    scale: () => tf.mul(r, sumDyXmu),
    offset: () => tf.clone(sumDy),
  };
}

type GradFunc = tf.GradConfig['gradFunc'];

interface GradientReplacement {
  kernelName: string;
  fast: GradFunc;
}

const GRADIENTS: GradientReplacement[] = [{ kernelName: 'FusedBatchNorm', fast: fastFusedBatchNormGrad as GradFunc }];

/** Kernel names whose gradients this module replaces (on wasm only). */
export const WASM_GRADIENT_NAMES: readonly string[] = GRADIENTS.map((g) => g.kernelName);

let installed = false;

/** Replace the gradients above; on backends other than wasm they delegate to the stock gradient. Idempotent. */
export function installWasmGradients(): void {
  if (installed) return;
  for (const g of GRADIENTS) {
    const stock = tf.getGradient(g.kernelName);
    if (!stock) throw new Error(`no stock gradient for ${g.kernelName}`);
    const gradFunc: GradFunc = (dy, saved, attrs) =>
      tf.getBackend() === 'wasm' ? g.fast(dy, saved, attrs) : stock.gradFunc(dy, saved, attrs);
    tf.registerGradient({ ...stock, gradFunc });
  }
  installed = true;
}
