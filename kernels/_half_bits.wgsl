// half_bits(x): the IEEE 754 binary16 bits of the half nearest to x, ties to even, from x's bits alone (integer
// operations only), so every device rounds as util/f16.ts's halfBits does: overflow gives ±Infinity, values below half
// the smallest subnormal give ±0, subnormal halves are kept, NaN stays a (quiet) NaN. WGSL lets pack2x16float round
// to either neighbour, flush subnormals and return anything for an out-of-range value; the f16 copies the matmuls
// read are written with this instead, so the GPU's copy is the CPU's bit for bit.
fn half_bits(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  let sign = (bits >> 16u) & 0x8000u;
  let exponent = (bits >> 23u) & 0xffu;
  let mantissa = bits & 0x7fffffu;
  if (exponent == 0xffu) {
    return sign | 0x7c00u | select(0u, 0x200u, mantissa != 0u); // Infinity, NaN (quiet)
  }
  let e = i32(exponent) - 112; // the half's biased exponent: - 127 + 15
  if (e >= 31) {
    return sign | 0x7c00u;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    // A subnormal half: the whole significand (implicit 1 included) shifted right by 14 - e (15 … 24), to even.
    let significand = mantissa | 0x800000u;
    let shift = u32(14 - e);
    let kept = significand >> shift;
    let rest = significand & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    return sign | (kept + select(0u, 1u, rest > halfway || (rest == halfway && (kept & 1u) == 1u)));
  }
  let kept = mantissa >> 13u;
  let rest = mantissa & 0x1fffu;
  // A carry out of the mantissa moves into the exponent, which is the right result (up to Infinity).
  return sign | ((u32(e) << 10u) + kept + select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (kept & 1u) == 1u)));
}

// Two halves in one word, a in the low 16 bits (pack2x16float's order).
fn pack_halves(a: f32, b: f32) -> u32 {
  return half_bits(a) | (half_bits(b) << 16u);
}
