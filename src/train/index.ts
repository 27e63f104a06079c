export * from './errors';
export * from './recipe';
export * from './schedule';
export * from './checkpoint';
export * from './loop';
export * from './job';
export * from './protocol';
export * from './process';
