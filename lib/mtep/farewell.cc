#include "mtep/farewell.h"
