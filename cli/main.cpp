#include <cstdio>
int main() { std::puts("muelab: under construction"); return 0; }
