import assert from "node:assert/strict";
import { writeShard } from "../../prepro/shard.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

Deno.test("Ctrl-C finishes the step, writes a checkpoint and exits 0", async () => {
  const dir = await Deno.makeTempDir();
  const tokens = Array.from({ length: 20000 }, (_, i) => (i * 7919) % 97);
  await writeShard(`${dir}/t_train.bin`, tokens);
  await writeShard(`${dir}/t_val.bin`, tokens.slice(0, 500));
  const args = ["run", "-A", CLI, "train", "-i", `${dir}/t_train.bin`, "-j", `${dir}/t_val.bin`, "--device", "cpu"];
  args.push("-e", "layers=2,heads=3,channels=30,seq=16,vocab=97", "-b", "2", "-t", "16", "-x", "100000");
  args.push("-v", "0", "-s", "0", "-o", `${dir}/run`, "--json");
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).spawn();
  const lines: string[] = [];
  const decoder = new TextDecoder();
  let buffered = "";
  let signalled = false;
  for await (const chunk of child.stdout) {
    buffered += decoder.decode(chunk, { stream: true });
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
    if (!signalled && lines.some((l) => l.includes('"type":"step","step":3,'))) {
      child.kill("SIGINT");
      signalled = true;
    }
  }
  const status = await child.status;
  const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
  assert.equal(status.code, 0, stderr);
  const events = lines.map((l) => JSON.parse(l));
  const saved = events.find((e) => e.type === "checkpoint");
  assert.ok(saved, "no checkpoint written on Ctrl-C");
  assert.ok(saved.step >= 3 && saved.step < 100000);
  const done = `${dir}/run/DONE_${String(saved.step).padStart(8, "0")}`;
  assert.ok((await Deno.stat(done)).isFile, `${done} missing`);
  assert.ok(events.some((e) => e.type === "info" && String(e.message).startsWith("interrupted")));
  await Deno.remove(dir, { recursive: true });
});
