// Shared by every tappa compute shader: the storage type of a dtype variant
// and the linear workgroup id of the 2-D grids that tvk_grid() launches.
#extension GL_EXT_control_flow_attributes : enable

#ifdef TAPPA_F16
#extension GL_EXT_shader_16bit_storage : require
#define STORE_T float16_t
#define TO_STORE(x) float16_t(x)
#else
#define STORE_T float
#define TO_STORE(x) (x)
#endif

// Workgroup size: specialization constant 0, chosen from the device limits.
layout(local_size_x_id = 0) in;

uint linear_group() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
