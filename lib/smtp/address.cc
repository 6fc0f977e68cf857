#include "smtp/address.h"
