// The engine's logging is the public m2mdb/log.h (an embedding program sets
// the sink and level there); engine files may keep including this name.
#ifndef M2MDB_ENGINE_UTIL_LOGGING_H_
#define M2MDB_ENGINE_UTIL_LOGGING_H_

#include "m2mdb/log.h"

#endif  // M2MDB_ENGINE_UTIL_LOGGING_H_
