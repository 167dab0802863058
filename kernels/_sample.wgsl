// _sample: the Params, bindings and the write of the chosen id shared by sample_token.wgsl and sample_ranked.wgsl
// (see those files for what each field means; sample_token ignores top_k and top_p). Appended to both sources in
// layers/sample.ts; WGSL declarations may come in any order.

struct Params {
  tokens_base: u32,
  sampled_base: u32,
  logits_base: u32,
  coins_base: u32,
  V: u32,
  step: u32,
  token_at: u32,
  write_token: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  row_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> sampled: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> coins: array<f32>;

// Several samples draw at once, one workgroup each: workgroup s reads logits row s (row_stride apart) and coin
// step + s, and writes sampled[step + s] and tokens[token_at + s] (the samples' rows of the next position are
// consecutive). `sample` is set from workgroup_id.x first thing in each entry point.
var<private> sample: u32;

// The first logit of this workgroup's row.
fn row_base() -> u32 {
  return p.logits_base + sample * p.row_stride;
}

// This workgroup's coin.
fn coin() -> f32 {
  return coins[p.coins_base + p.step + sample];
}

// The draw's result: sampled[step + s] (as a float: ids are < 2^24) and, when write_token is 1, tokens[token_at + s].
fn choose(token: u32) {
  sampled[p.sampled_base + p.step + sample] = f32(token);
  if (p.write_token != 0u) {
    tokens[p.tokens_base + p.token_at + sample] = i32(token);
  }
}
