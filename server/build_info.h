// server/build_info.h — the version and the git commit this binary was built
// from, for `m2mdb --version` and the m2mdb_build_info series of /metrics.
//
// The definitions are generated at build time (server/build_info.cmake):
// the commit is read from git on every build, so a rebuild after a new
// commit reports it without reconfiguring.
#ifndef M2MDB_SERVER_BUILD_INFO_H_
#define M2MDB_SERVER_BUILD_INFO_H_

namespace m2mdb::server {

// "0.1.0" (the CMake project version).
const char* BuildVersion();
// The abbreviated commit hash, with "-dirty" when tracked files had
// uncommitted changes; "unknown" when not built from a git checkout.
const char* BuildCommit();

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_BUILD_INFO_H_
