#include "netstring/netstring.h"
