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
// threads and thread g handles elements g, g + x·WG, … The arithmetic is kernels/_adamw_step.wgsl, shared with
// adamw_update_f16.wgsl (the same step, also writing the f16 copy of the parameters).
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
  if (step_skipped()) {
    return;
  }
  let scale = step_grad_scale();
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    adamw_step(i, scale);
  }
}
