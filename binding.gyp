{
  "targets": [
    {
      "target_name": "eas_native",
      "sources": ["native/eas_native.cc"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
