#include "mtep/client.h"
