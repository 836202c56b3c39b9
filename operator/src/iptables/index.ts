// The iptables rule engine: config → rule set → iptables-restore input; iptables-save → drift and plans; the
// executor that applies them to a netns; pod annotations → config; the `mizzen iptables` command.
export * from './addr.js';
export * from './config.js';
export * from './builder.js';
export * from './parse.js';
export * from './restore.js';
export * from './nft.js';
export * from './nfnetlink.js';
export * from './simulate.js';
export * from './annotations.js';
export * from './executor.js';
export * from './nftexec.js';
export * from './cli.js';
