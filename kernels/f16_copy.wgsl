// f16_copy: out (n halves, packed two to a u32: half i in bits 16·(i mod 2) … of word ⌊i / 2⌋) = inp (n f32),
// each value rounded to the nearest half, ties to even, by kernels/_half_bits.wgsl (the f16 copy of a weight the f16
// matmuls read).
//
// Threads: a 1-D grid-stride loop over output words; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups)
// workgroups of WG threads and thread g packs words g, g + x·WG, … (halves 2w and 2w + 1; for odd n the last word
// keeps its high half). out_base counts halves and is even (bindings start at 256-byte offsets, tensors at even
// halves).
struct Params {
  out_base: u32,
  inp_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn f16_copy(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  let words = (p.n + 1u) / 2u;
  for (var w = gid.x; w < words; w += stride) {
    let i = 2u * w;
    let at = p.out_base / 2u + w;
    if (i + 1u < p.n) {
      out[at] = pack_halves(inp[p.inp_base + i], inp[p.inp_base + i + 1u]);
    } else {
      // An odd n's last half: the word's high half belongs to whatever follows the tensor, and keeps its bits.
      out[at] = (out[at] & 0xffff0000u) | half_bits(inp[p.inp_base + i]);
    }
  }
}
