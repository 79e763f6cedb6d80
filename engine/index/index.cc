#include "engine/index/index.h"
