// _gemm_row_lse_off: the tiled matmul without the row-LSE form (see _gemm_row_lse.wgsl): nothing after the stores.

fn store_row_lse(acc: ptr<function, Acc>, m: u32, n: u32, l: u32, z: u32) {}
