// `hook-env` in JavaScript: the `agent-hooks` world (meseta:hooks@0.2.0) over `policy.js`.
//
// Every task's environment gets the manifest's parameters as variables, and
// `MESETA_FRAMEWORK_ID`, read through the executor's handle. The other hook points keep.
// Build: componentize-js app.js --wit wit --world-name agent-hooks --disable http fetch-event -o hook-env.wasm
import { executorFrameworkId } from 'meseta:hooks/views@0.2.0';
import { environment, variables } from './policy.js';

let configured = [];

export const agentHooksApi = {
  init(parameters) {
    // a thrown error is the `err` of `result<_, string>`: the daemon refuses to start, saying why
    configured = variables(parameters);
  },
  runTaskLabelDecorator(task, executor, framework, agent) {
    return undefined;
  },
  executorEnvironmentDecorator(executor) {
    return { tag: 'set', val: environment(configured, executorFrameworkId(executor)) };
  },
  taskStatusDecorator(frameworkId, status) {
    return undefined;
  },
  resourcesDecorator(agent) {
    return undefined;
  },
  attributesDecorator(agent) {
    return undefined;
  },
  removeExecutor(framework, executor) {},
  postFetch(containerId, directory) {},
};
