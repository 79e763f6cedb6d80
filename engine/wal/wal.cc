#include "engine/wal/wal.h"
