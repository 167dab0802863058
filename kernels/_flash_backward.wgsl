// _flash_backward: the Params, bindings and vec4 loads shared by flash_attention_backward_dq.wgsl and
// flash_attention_backward_dkdv.wgsl (see those files for what each field means). Appended to both sources in
// layers/flash_attention.ts; WGSL declarations may come in any order.

struct Params {
  dinp_base: u32,
  inp_base: u32,
  dout_base: u32,
  lse_base: u32,
  delta_base: u32,
  T: u32,
  C: u32,
  NH: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;

fn load_inp(at: u32) -> vec4f {
  return vec4f(inp[at], inp[at + 1u], inp[at + 2u], inp[at + 3u]);
}

fn load_dout(at: u32) -> vec4f {
  return vec4f(dout[at], dout[at + 1u], dout[at + 2u], dout[at + 3u]);
}

// Four consecutive floats of dinp (the store of kernels/_flash.wgsl).
fn write4(at: u32, v: vec4f) {
  dinp[at] = v.x;
  dinp[at + 1u] = v.y;
  dinp[at + 2u] = v.z;
  dinp[at + 3u] = v.w;
}
