"use strict"; // The pages come next.
