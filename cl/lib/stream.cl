/* Streaming (element-wise) kernels take STREAM_CHUNK consecutive elements
 * per work item: one float16 load and store when the item's chunk is whole,
 * a scalar loop on the tail. A CPU driver runs the work items of a group as
 * a loop, and a per-element kernel leaves it a gather per lane; a chunk per
 * item is a plain vector (4x faster on PoCL). moecl_launch_stream
 * (engine/launch.c) launches count / STREAM_CHUNK items. */
#define STREAM_CHUNK 16
