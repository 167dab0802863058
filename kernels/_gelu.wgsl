// _gelu: GPT-2's tanh approximation of GELU, shared by gelu_forward and gelu_backward (appended to their sources in
// layers/gelu.ts): gelu(x) = 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³). u is clamped to ±10, where tanh
// is ±1 in f32, so no implementation overflows exp inside tanh.

const GELU_K: f32 = 0.7978845608028654; // √(2/π)
const GELU_CUBIC: f32 = 0.044715;

fn gelu_tanh(x: f32) -> f32 {
  return tanh(clamp(GELU_K * (x + GELU_CUBIC * x * x * x), -10.0, 10.0));
}
