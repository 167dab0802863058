// encoder_forward: out[n,c] = wte[inp[n], c] + wpe[n % T, c] for the N = B·T positions and C channels.
// When wte is larger than one storage binding, the launcher binds it in row ranges [v0, v1) and runs this once per
// range; positions whose token lies outside the bound range are left for the dispatch that holds it.
//
// Threads: a 1-D grid-stride loop over the N·C outputs (i → n = i / C, c = i % C, coalesced along c); the launcher
// dispatches x = min(ceil(N·C / WG), maxWorkgroups) workgroups of WG threads.
struct Params {
  out_base: u32,
  inp_base: u32,
  wte_base: u32,
  wpe_base: u32,
  N: u32,
  T: u32,
  C: u32,
  v0: u32,
  v1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<i32>;
@group(0) @binding(3) var<storage, read> wte: array<f32>;
@group(0) @binding(4) var<storage, read> wpe: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn encoder_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  let total = p.N * p.C;
  for (var i = gid.x; i < total; i += stride) {
    let n = i / p.C;
    let c = i % p.C;
    let token = u32(inp[p.inp_base + n]);
    if (token >= p.v0 && token < p.v1) {
      out[p.out_base + i] = wte[p.wte_base + (token - p.v0) * p.C + c] + wpe[p.wpe_base + (n % p.T) * p.C + c];
    }
  }
}
