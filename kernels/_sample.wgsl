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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> sampled: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> coins: array<f32>;

// The draw's result: sampled[step] (as a float: ids are < 2^24) and, when write_token is 1, tokens[token_at].
fn choose(token: u32) {
  sampled[p.sampled_base + p.step] = f32(token);
  if (p.write_token != 0u) {
    tokens[p.tokens_base + p.token_at] = i32(token);
  }
}
