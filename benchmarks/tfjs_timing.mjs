// Time a TF.js graph model under node with @tensorflow/tfjs (its plain CPU backend, the reference Rosetta's
// interpreter reproduces): prints {"first_s": ..., "rest_s": [...]} for REPEATS runs on a fixed random input.
//   node tfjs_timing.mjs MODEL_JSON INPUT_NAME SHAPE(comma) REPEATS OUTPUT [OUTPUT ...]
import * as tf from '@tensorflow/tfjs';
import fs from 'fs';
import path from 'path';

const [modelPath, inputName, shapeText, repeatsText, ...outputs] = process.argv.slice(2);
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
const input = tf.randomUniform(shapeText.split(',').map(Number), 0, 255, 'float32', 0);
const times = [];
for (let i = 0; i < Number(repeatsText); i++) {
  const start = process.hrtime.bigint();
  const results = await graph.executeAsync({ [inputName]: input }, outputs);
  for (const result of (Array.isArray(results) ? results : [results])) { await result.data(); result.dispose(); }
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
}
console.log(JSON.stringify({ tfjs: tf.version.tfjs, first_s: times[0], rest_s: times.slice(1) }));
