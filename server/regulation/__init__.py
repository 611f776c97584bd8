"""Emergency regulation: cases, caller links, the caller's live camera, stills, SMS, the regulator's API."""
