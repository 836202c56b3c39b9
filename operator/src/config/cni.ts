// The CNI plugin's environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH), read
// once at the plugin's entry. A separate file from index.ts so the mizzen-cni bundle stays small.

export interface CniEnv {
  readonly command: string;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS, e.g. `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=name`. */
  readonly args: string;
  readonly path: string;
}

export function cniEnvironment(env: NodeJS.ProcessEnv = process.env): CniEnv {
  return {
    command: env.CNI_COMMAND ?? '',
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
    path: env.CNI_PATH ?? '',
  };
}
