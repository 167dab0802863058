// _adamw_step: the AdamW arithmetic of adamw_update.wgsl and adamw_update_f16.wgsl (see the first for the formulas),
// appended to both. The including kernel declares Params (with the step's scalars), params, grads, m, v and norm.

// Whether this step is skipped: skip_nonfinite = 1 and a word of norm holds Inf or NaN (tested on its bits, which no
// float optimization can assume away).
fn step_skipped() -> bool {
  if (p.skip_nonfinite == 0u) {
    return false;
  }
  let exponents = vec2u(bitcast<u32>(norm[p.norm_base]), bitcast<u32>(norm[p.norm_base + 1u])) & vec2u(0x7f800000u);
  return any(exponents == vec2u(0x7f800000u));
}

// What every gradient is multiplied by: gradScale, times the clipping factor when max_norm > 0.
fn step_grad_scale() -> f32 {
  var scale = p.gradScale;
  if (p.max_norm > 0.0) {
    let global_norm = sqrt(norm[p.norm_base] + norm[p.norm_base + 1u]) * p.gradScale;
    if (global_norm > p.max_norm) {
      scale *= p.max_norm / global_norm;
    }
  }
  return scale;
}

// Element i (relative to the bases): m, v and the parameter updated in place; returns the new parameter.
fn adamw_step(i: u32, scale: f32) -> f32 {
  let g = grads[p.grads_base + i] * scale;
  let mi = p.beta1 * m[p.m_base + i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[p.v_base + i] + (1.0 - p.beta2) * g * g;
  m[p.m_base + i] = mi;
  v[p.v_base + i] = vi;
  let m_hat = mi / p.mCorrection;
  let v_hat = vi / p.vCorrection;
  let w = params[p.params_base + i];
  let updated = w - p.learningRate * (m_hat / (sqrt(v_hat) + p.eps) + p.weightDecay * w);
  params[p.params_base + i] = updated;
  return updated;
}
