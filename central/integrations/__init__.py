"""Optional bridges from central to other systems (Home Assistant); each is off unless configured."""
