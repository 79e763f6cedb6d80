#include "engine/lineproto/lineproto.h"
