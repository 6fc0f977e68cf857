#include "mtep/protocol.h"
