// `hook-labels` in JavaScript: the `master-hooks` world (meseta:hooks@0.2.0) over `policy.js`.
//
// Every launched task gets the manifest's parameters as labels, answered as `set` (only these
// labels cross the boundary; the host merges them by key) the first time and `repeat` after.
// Build: jco componentize app.js --wit wit --world-name master-hooks --disable http fetch-event -o hook-labels.wasm
import { labels } from './policy.js';

let configured = [];
let sent = false;

export const masterHooksApi = {
  init(parameters) {
    // a thrown error is the `err` of `result<_, string>`: the daemon refuses to start, saying why
    configured = labels(parameters);
  },
  launchTaskLabelDecorator(task, framework, agent) {
    if (configured.length === 0) return undefined;
    if (sent) return { tag: 'repeat' };
    sent = true;
    return { tag: 'set', val: configured };
  },
  launchTaskResourceDecorator(task, agentResources) {
    return undefined;
  },
  agentLost(agent) {},
};
