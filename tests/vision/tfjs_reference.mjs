// Run a TF.js graph model under node with @tensorflow/tfjs (its plain CPU backend) and write its outputs as raw
// float32 files: the reference Rosetta's torch interpreter is tested against (tests/vision/make_tfjs_fixtures.py).
//   node tfjs_reference.mjs MODEL_JSON INPUT_NAME INPUT_RAW SHAPE(comma) OUT_DIR OUTPUT [OUTPUT ...]
// With TFJS_REPEATS=N it also times N runs and prints {"tfjs", "first_s", "rest_s"} as its last line
// (benchmarks/bench_photos.py: TF.js's own time beside Rosetta's).
import * as tf from '@tensorflow/tfjs';
import fs from 'fs';
import path from 'path';

const [modelPath, inputName, inputRaw, shapeText, outDir, ...outputs] = process.argv.slice(2);
const model = JSON.parse(fs.readFileSync(modelPath));
const folder = path.dirname(modelPath);
const specs = [];
const buffers = [];
for (const group of model.weightsManifest) {
  specs.push(...group.weights);
  for (const file of group.paths) buffers.push(fs.readFileSync(path.join(folder, file)));
}
const joined = Buffer.concat(buffers);
const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
await tf.setBackend('cpu');
const graph = await tf.loadGraphModel(tf.io.fromMemory({
  modelTopology: model.modelTopology, weightSpecs: specs, weightData, format: model.format,
  generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature,
}));
const raw = fs.readFileSync(inputRaw);
const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const input = tf.tensor(values, shapeText.split(',').map(Number), 'float32');
const times = [];
for (let i = 0; i < Number(process.env.TFJS_REPEATS || 0); i++) {
  const start = process.hrtime.bigint();
  const timed = await graph.executeAsync({ [inputName]: input }, outputs);
  for (const result of (Array.isArray(timed) ? timed : [timed])) { await result.data(); result.dispose(); }
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
}
const results = await graph.executeAsync({ [inputName]: input }, outputs);
const list = Array.isArray(results) ? results : [results];
fs.mkdirSync(outDir, { recursive: true });
const shapes = {};
for (let i = 0; i < outputs.length; i++) {
  const data = await list[i].data();
  const file = outputs[i].replace(/[^A-Za-z0-9_.-]/g, '_') + '.raw';
  fs.writeFileSync(path.join(outDir, file), Buffer.from(new Float32Array(data).buffer));
  shapes[outputs[i]] = { file, shape: list[i].shape };
}
fs.writeFileSync(path.join(outDir, 'outputs.json'), JSON.stringify(shapes));
console.log(`tfjs ${tf.version.tfjs}: wrote ${outputs.length} outputs to ${outDir}`);
if (times.length) console.log(JSON.stringify({ tfjs: tf.version.tfjs, first_s: times[0], rest_s: times.slice(1) }));
