// src/main.cc — kvraft-server's entry point (being built; see src/server.h).
int main() { return 0; }
