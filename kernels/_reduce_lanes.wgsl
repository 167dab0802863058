// _reduce_lanes: reductions over the RW lanes of a row, for row kernels that give each row RW consecutive threads of
// a WG-thread workgroup (WG / RW rows per workgroup), appended with kernels/_reduce.wgsl (whose `red` they use). The
// including kernel declares `override WG: u32` and `override RW: u32`, both powers of two, RW ≤ WG. Every thread of
// the workgroup must call (a row past the last passes its identity), with its local_invocation_index `lid` and its
// lane `lid % RW`; each lane gets its row's total. A tree over s = RW/2, RW/4, …, 1 (lane with lane + s, all rows at
// once): a fixed order, so results are reproducible. Each call ends on a barrier, so the next may reuse `red` at once.

fn lanes_sum(lid: u32, lane: u32, value: f32) -> f32 {
  red[lid] = value;
  workgroupBarrier();
  for (var s = RW / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();
  return total;
}

fn lanes_max(lid: u32, lane: u32, value: f32) -> f32 {
  red[lid] = value;
  workgroupBarrier();
  for (var s = RW / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();
  return total;
}
