// The name under which walbuffer.c registers its VFS, and what it exports to Go.
#define SWITCHYARD_WALBUFFER_VFS "switchyard-walbuffer"

int switchyard_walbuffer_register(void);
long long switchyard_walbuffer_writes_buffered(void);
long long switchyard_walbuffer_writes_issued(void);
long long switchyard_walbuffer_checkpoint_reads_served(void);
long long switchyard_walbuffer_checkpoint_chunks_read(void);
