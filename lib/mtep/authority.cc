#include "mtep/authority.h"
