// adamw_update: one AdamW step on n elements (llm.c's gpt2_update). With g = grads[i]·gradScale:
//   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
//   params -= lr·((m / mCorrection) / (√(v / vCorrection) + eps) + wd·params)
// where mCorrection = 1 - β1^t and vCorrection = 1 - β2^t are computed on the host in float64. With max_norm > 0,
// gradScale is first multiplied by min(1, max_norm / ‖g‖), ‖g‖ = √(norm[0] + norm[1])·gradScale (the norm of the
// scaled gradients) from adamw.gradNormSquared earlier in the same step: clipping without reading the norm back.
// With skip_nonfinite = 1 nothing is written when a word of norm holds Inf or NaN (tested on its bits, which no
// float optimization can assume away): the step a loss-scale overflow spoils is skipped.
//
// Threads: a 1-D grid-stride loop; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads and thread g handles elements g, g + x·WG, …
struct Params {
  params_base: u32,
  grads_base: u32,
  m_base: u32,
  v_base: u32,
  norm_base: u32,
  n: u32,
  learningRate: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weightDecay: f32,
  mCorrection: f32,
  vCorrection: f32,
  gradScale: f32,
  max_norm: f32,
  skip_nonfinite: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> norm: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  if (p.skip_nonfinite != 0u) {
    let exponents = vec2u(bitcast<u32>(norm[p.norm_base]), bitcast<u32>(norm[p.norm_base + 1u])) & vec2u(0x7f800000u);
    if (any(exponents == vec2u(0x7f800000u))) {
      return;
    }
  }
  var scale = p.gradScale;
  if (p.max_norm > 0.0) {
    let global_norm = sqrt(norm[p.norm_base] + norm[p.norm_base + 1u]) * p.gradScale;
    if (global_norm > p.max_norm) {
      scale *= p.max_norm / global_norm;
    }
  }
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    let g = grads[p.grads_base + i] * scale;
    let mi = p.beta1 * m[p.m_base + i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[p.v_base + i] + (1.0 - p.beta2) * g * g;
    m[p.m_base + i] = mi;
    v[p.v_base + i] = vi;
    let m_hat = mi / p.mCorrection;
    let v_hat = vi / p.vCorrection;
    let w = params[p.params_base + i];
    params[p.params_base + i] = w - p.learningRate * (m_hat / (sqrt(v_hat) + p.eps) + p.weightDecay * w);
  }
}
