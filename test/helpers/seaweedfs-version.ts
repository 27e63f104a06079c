/**
 * The one pinned SeaweedFS version: the S3-compatible server the tests start (`weed mini`). `.ci/run` reads the
 * version from this line and builds `weed` only when the installed one is missing or of another version (a stamp file
 * `weed.version` beside the binary records what was built).
 */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';
export const SEAWEEDFS_MODULE = 'github.com/seaweedfs/seaweedfs';
export const SEAWEEDFS_INSTALL_HINT =
  `Build the SeaweedFS server with Go as .ci/run does (\`go install\` refuses this module: its go.mod has replace directives): ` +
  `\`go mod download -json ${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION}\` names its folder; copy it somewhere writable and run ` +
  '`go build -o "$(go env GOPATH)/bin/weed" .` in its weed/ folder (about 7 minutes the first time), or put any `weed` on PATH.';
