// colsum_partial: first stage of a column sum over the rows of x (rows, W) with row stride sx (matmul's dbias).
// Rows are cut into chunks of rows_per_chunk; partial[s·W + c] = Σ_{rows n in chunk s} x[n·sx + c]. sum_partials
// then adds the chunk sums in order: deterministic, no atomics.
//
// Threads: workgroups of WX·WY threads; workgroup (x, s) owns columns x·WX … x·WX + WX - 1 of chunk s. Thread
// (cx, ry) sums rows ry, ry + WY, … for column x·WX + cx (coalesced along columns); the WY partial sums of a
// column are reduced with column_total (kernels/_column.wgsl). Dispatch: (ceil(W / WX), chunks).
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
  var sum = 0.0;
  if (c < p.W) {
    for (var n = share.first; n < share.last; n += WY) {
      sum += x[p.x_base + n * p.sx + c];
    }
  }
  let total = column_total(lid, sum);
  if (lid.y == 0u && c < p.W) {
    partial[p.partial_base + wid.y * p.W + c] = total;
  }
}
