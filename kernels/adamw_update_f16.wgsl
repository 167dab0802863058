// adamw_update_f16: adamw_update.wgsl's step (kernels/_adamw_step.wgsl) that also writes the f16 copy of the
// parameters the matmuls of an f16 model read: params16 holds n halves packed two to a u32 (half i in bits
// 16·(i mod 2) … of word ⌊i / 2⌋), each the updated parameter rounded by kernels/_half_bits.wgsl as f16_copy.wgsl
// writes them. A skipped step writes neither. params16_base counts halves and is even (bindings start at 256-byte offsets,
// tensors at even halves).
//
// Threads: a 1-D grid-stride loop over words of params16: thread g updates elements 2w and 2w + 1 for w = g,
// g + x·WG, … and writes word w; for odd n the last word's high half belongs to whatever follows and keeps its bits.
struct Params {
  params_base: u32,
  grads_base: u32,
  m_base: u32,
  v_base: u32,
  params16_base: u32,
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
@group(0) @binding(5) var<storage, read_write> params16: array<u32>;
@group(0) @binding(6) var<storage, read> norm: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn adamw_update_f16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  if (step_skipped()) {
    return;
  }
  let scale = step_grad_scale();
  let stride = nwg.x * WG;
  let words = (p.n + 1u) / 2u;
  for (var w = gid.x; w < words; w += stride) {
    let i = 2u * w;
    let at = p.params16_base / 2u + w;
    let lo = adamw_step(i, scale);
    if (i + 1u < p.n) {
      params16[at] = pack_halves(lo, adamw_step(i + 1u, scale));
    } else {
      params16[at] = (params16[at] & 0xffff0000u) | half_bits(lo);
    }
  }
}
