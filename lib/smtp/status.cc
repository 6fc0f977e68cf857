#include "smtp/status.h"
