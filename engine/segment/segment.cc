#include "engine/segment/segment.h"
