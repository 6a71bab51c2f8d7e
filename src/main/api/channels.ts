/**
 * The contract's channel names, with no dependencies, so the sandboxed preload can build its
 * bridge from them without bundling the validators. contract.ts checks it covers them all.
 */
export const channelNames = [
  "listSessions",
  "getSession",
  "presentations",
  "stimulus",
  "unitResponses",
  "unitRaster",
  "tuning",
  "reliability",
  "learningCurve",
  "predictedResponses",
  "faults",
  "causal",
  "modelVersions",
  "compactModel",
  "proposals",
  "approveProposal",
  "liveState",
  "liveControl",
  "liveEndpoint",
  "exportCsv",
  "exportBundle",
  "exportNwb",
  "stimulusAttach",
  "stimulusCommands",
  "stimulusReport",
  "techConfig",
  "protocolLibrary",
  "replayProtocolFile",
  "preflight",
  "startTechJob",
  "techJobs",
  "cancelTechJob",
] as const;

export type ChannelName = (typeof channelNames)[number];

/** The single Electron IPC channel every call goes through; the guard checks the channel name inside. */
export const ipcInvokeChannel = "cortexloop:invoke";
