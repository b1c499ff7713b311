# Maps perf samples onto a JIT disassembly listing: annot.py LISTING PERFDATA PERFMAP METHOD MAPTIER LISTINGTIER (see profile.sh).
import sys, re, subprocess, collections
asm, data, mapf, name, tier = sys.argv[1:6]
# find method start
start=size=None
for l in open(mapf):
    a, s, n = l.rstrip('\n').split(' ', 2)
    if name in n and n.endswith('['+tier+']'):
        start=int(a,16); size=int(s,16)
print('start', hex(start), size)
ips=collections.Counter(); total=0
out=subprocess.run(['perf','script','-i',data,'-F','ip'],capture_output=True,text=True).stdout
for l in out.split():
    total+=1
    ip=int(l,16)
    if start<=ip<start+size: ips[ip-start]+=1
print('samples in method', sum(ips.values()), 'of', total)
lines=open(asm).read().split('\n')
# select last listing with matching tier
idx=[i for i,l in enumerate(lines) if l.startswith('; Assembly listing') and l.endswith('('+sys.argv[6]+')')][-1]
off=0; res=[]
for l in lines[idx:]:
    if l.startswith('; Total bytes'): break
    m=re.search(r';; offset=0x([0-9A-F]+)', l)
    if m: off=int(m.group(1),16); res.append((None,l)); continue
    m=re.match(r'\s+([0-9A-F]+)\s{2,}(.*)', l)
    if m and len(m.group(1))%2==0:
        res.append((off,l)); off+=len(m.group(1))//2; continue
    m=re.match(r'\s+align\s+\[(\d+) bytes', l)
    if m: off+=int(m.group(1))
    res.append((None,l))
# attribute samples: sample ip is the instruction *at* that offset
offs=[o for o,_ in res if o is not None]
for o,l in res:
    c=ips.get(o,0) if o is not None else 0
    print(f"{c:5d} {'' if o is None else hex(o):>6} {l}")
