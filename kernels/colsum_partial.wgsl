// colsum_partial: first stage of a column sum over the rows of x (rows, W) with row stride sx (matmul's dbias).
// Rows are cut into chunks of rows_per_chunk; partial[s·W + c] = Σ_{rows n in chunk s} x[n·sx + c]. sum_partials
// then adds the chunk sums in order: deterministic, no atomics.
//
// Threads: workgroups of WX·WY threads; workgroup (x, s) owns columns x·WX … x·WX + WX - 1 of chunk s. Thread
// (cx, ry) sums rows ry, ry + WY, … for column x·WX + cx (coalesced along columns; four rows per iteration); the
// WY partial sums of a column are reduced with column_total (kernels/_column.wgsl). Dispatch: (ceil(W / WX),
// chunks).
struct Params {
  partial_base: u32,
  x_base: u32,
  rows: u32,
  W: u32,
  sx: u32,
  rows_per_chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(WX, WY)
fn colsum_partial(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let share = column_share(lid, wid, p.rows, p.rows_per_chunk);
  let c = share.c;
  // Four rows at a time into four sums, so each thread has four loads in flight (one at a time left the H200 at
  // 0.9-1.7 TB/s, latency-bound), then the rest of the chunk; the sums are added in a fixed order.
  var s0 = 0.0;
  var s1 = 0.0;
  var s2 = 0.0;
  var s3 = 0.0;
  if (c < p.W) {
    let row = WY * p.sx;
    var n = share.first;
    for (; n + 3u * WY < share.last; n += 4u * WY) {
      let at = p.x_base + n * p.sx + c;
      s0 += x[at];
      s1 += x[at + row];
      s2 += x[at + 2u * row];
      s3 += x[at + 3u * row];
    }
    for (; n < share.last; n += WY) {
      s0 += x[p.x_base + n * p.sx + c];
    }
  }
  let sum = (s0 + s1) + (s2 + s3);
  let total = column_total(lid, sum);
  if (lid.y == 0u && c < p.W) {
    partial[p.partial_base + wid.y * p.W + c] = total;
  }
}
