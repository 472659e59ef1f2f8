#!/usr/bin/env python3
"""Compile one GLSL compute shader to SPIR-V (Vulkan 1.1 / SPIR-V 1.3), validate
it with spirv-val, and write it as a C array so it is linked into the library.

usage: embed_spirv.py GLSLANG SPIRV_VAL SOURCE OUT_C DEPFILE NAME [-DMACRO ...]
"""
import os
import subprocess
import sys
import tempfile


def main():
    glslang, spirv_val, source, out_c, depfile, name = sys.argv[1:7]
    defines = sys.argv[7:]
    with tempfile.TemporaryDirectory() as tmp:
        spv = os.path.join(tmp, name + '.spv')
        cmd = [glslang, '-V', '--target-env', 'vulkan1.1', '-S', 'comp',
               '--depfile', depfile, '-o', spv] + defines + [source]
        run(cmd)
        run([spirv_val, '--target-env', 'vulkan1.1', spv])
        data = open(spv, 'rb').read()
    # glslang names the .spv in the depfile; the build wants the .c we write.
    dep = open(depfile).read().split(':', 1)[1]
    with open(depfile, 'w') as f:
        f.write(out_c + ':' + dep)
    words = [int.from_bytes(data[i:i + 4], 'little') for i in range(0, len(data), 4)]
    lines = []
    for i in range(0, len(words), 8):
        lines.append('    ' + ', '.join('0x%08x' % w for w in words[i:i + 8]) + ',')
    with open(out_c, 'w') as f:
        f.write('/* Generated from %s by embed_spirv.py. Do not edit. */\n' % os.path.basename(source))
        f.write('#include <stddef.h>\n#include <stdint.h>\n')
        f.write('const uint32_t tappa_spv_%s[] = {\n%s\n};\n' % (name, '\n'.join(lines)))
        f.write('const size_t tappa_spv_%s_bytes = sizeof tappa_spv_%s;\n' % (name, name))


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        sys.exit('embed_spirv.py: failed: ' + ' '.join(cmd))


if __name__ == '__main__':
    main()
