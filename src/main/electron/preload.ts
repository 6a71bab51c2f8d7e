/**
 * The renderer's only door to the controller: one narrow function per contract channel, exposed
 * as `window.cortexloop`. Never exposes ipcRenderer. Bundled to CommonJS (sandboxed preloads are CJS).
 */
import { contextBridge, ipcRenderer } from "electron";
import { ipcInvokeChannel } from "../api/channels.js";
import type { ApiReply, Channel, CortexloopApi, ReplyOf, RequestOf } from "../api/contract.js";

function channel<C extends Channel>(name: C): (request: RequestOf<C>) => Promise<ApiReply<ReplyOf<C>>> {
  return (request) => ipcRenderer.invoke(ipcInvokeChannel, name, request) as Promise<ApiReply<ReplyOf<C>>>;
}

// Listed one by one so the compiler checks this bridge against the contract.
const api: CortexloopApi = {
  listSessions: channel("listSessions"),
  getSession: channel("getSession"),
  presentations: channel("presentations"),
  stimulus: channel("stimulus"),
  unitResponses: channel("unitResponses"),
  unitRaster: channel("unitRaster"),
  tuning: channel("tuning"),
  reliability: channel("reliability"),
  learningCurve: channel("learningCurve"),
  predictedResponses: channel("predictedResponses"),
  faults: channel("faults"),
  causal: channel("causal"),
  modelVersions: channel("modelVersions"),
  compactModel: channel("compactModel"),
  proposals: channel("proposals"),
  approveProposal: channel("approveProposal"),
  liveState: channel("liveState"),
  liveControl: channel("liveControl"),
  liveEndpoint: channel("liveEndpoint"),
  exportCsv: channel("exportCsv"),
  exportBundle: channel("exportBundle"),
  exportNwb: channel("exportNwb"),
  stimulusAttach: channel("stimulusAttach"),
  stimulusCommands: channel("stimulusCommands"),
  stimulusReport: channel("stimulusReport"),
  techConfig: channel("techConfig"),
  protocolLibrary: channel("protocolLibrary"),
  replayProtocolFile: channel("replayProtocolFile"),
  preflight: channel("preflight"),
  startTechJob: channel("startTechJob"),
  techJobs: channel("techJobs"),
  cancelTechJob: channel("cancelTechJob"),
};

contextBridge.exposeInMainWorld("cortexloop", Object.freeze(api));
